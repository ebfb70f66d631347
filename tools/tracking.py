"""Multi-object tracking over any detector's boxes: ByteTrack per label (the ``trackers`` package).

Weight-free, so it serves every tier: the generic ``track_objects`` backend runs it over
whatever ``detect_objects`` backend the profile has, and the MOT evaluation runs it over a
whole sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tools.capabilities import Track
from tools.detections import Detections
from tools.errors import require

#: Tracks with fewer boxes than this are detector flicker and are dropped.
MIN_TRACK_BOXES = 2
#: Seconds a lost track is kept before its id is retired.
LOST_TRACK_SECONDS = 2.0


def track(dets: Detections, sampled: Sequence[tuple[int, float]], fps: float) -> Detections:
    """ByteTrack per label over the sampled frames (empty frames included, so tracks age).

    ``dets``: boxes of any detector, rows of the frames in ``sampled``. ``sampled``: every
    frame looked at, as (frame index, time in seconds), in time order. ``fps``: the rate they
    were sampled at, frames per second. Returns the boxes that belong to a track, with
    ``track_id`` set; ids are 1..N in order of first appearance across labels. A track's
    first box is kept (a track starts on its first confident box).
    """
    require("trackers", "lite")
    from trackers import ByteTrackTracker

    sv = require("supervision", "lite")
    out = []
    for label in sorted(set(dets.label.tolist())):
        tracker = ByteTrackTracker(
            frame_rate=fps,
            lost_track_buffer=max(2, int(round(LOST_TRACK_SECONDS * fps))),
            track_activation_threshold=0.5,
            minimum_consecutive_frames=1,
            high_conf_det_threshold=0.5,
        )
        mine = dets[dets.label == label]
        for frame_index, time_s in sampled:
            rows = mine[mine.frame_index == frame_index]
            tracked = tracker.update(
                sv.Detections(xyxy=rows.xyxy.astype(np.float32), confidence=rows.confidence,
                              class_id=np.zeros(len(rows), dtype=int)),
                timestamp=time_s,
            )
            keep = tracked.tracker_id >= 0 if tracked.tracker_id is not None else np.zeros(len(tracked), bool)
            if keep.any():
                n = int(keep.sum())
                out.append(Detections(
                    xyxy=tracked.xyxy[keep], confidence=tracked.confidence[keep], label=np.full(n, label),
                    frame_index=np.full(n, frame_index), time_s=np.full(n, time_s), track_id=tracked.tracker_id[keep],
                ))
    return _renumber(out)


def _empty() -> Detections:
    return Detections(np.zeros((0, 4)), [], [], [], [], track_id=np.zeros(0, dtype=np.int64))


def _renumber(parts: list[Detections]) -> Detections:
    if not parts:
        return _empty()
    merged = Detections.merge(parts)
    keys = np.array([f"{lbl}#{tid}" for lbl, tid in zip(merged.label, merged.track_id)])
    names, counts = np.unique(keys, return_counts=True)
    lasting = np.isin(keys, names[counts >= MIN_TRACK_BOXES])
    merged, keys = merged[lasting], keys[lasting]
    if not len(merged):
        return _empty()
    first_seen: dict[str, float] = {}
    for key, t in zip(keys, merged.time_s):
        first_seen[key] = min(first_seen.get(key, t), t)
    order = {key: i + 1 for i, key in enumerate(sorted(first_seen, key=lambda k: (first_seen[k], k)))}
    ids = np.array([order[k] for k in keys], dtype=np.int64)
    return Detections(merged.xyxy, merged.confidence, merged.label, merged.frame_index, merged.time_s, track_id=ids)


def tracks_of(dets: Detections) -> list[Track]:
    """One ``Track`` per track id of ``dets`` (boxes with ``track_id`` set), by id."""
    tracks = []
    for tid in np.unique(dets.track_id):
        rows = dets[dets.track_id == tid]
        tracks.append(Track(track_id=int(tid), label=str(rows.label[0]), first_s=float(rows.time_s.min()),
                            last_s=float(rows.time_s.max()), n_boxes=len(rows)))
    return sorted(tracks, key=lambda t: t.track_id)


def sampling_rate(sampled: Sequence[tuple[int, float]], default: float) -> float:
    """Frames per second of a list of (frame index, time) samples (``default`` for fewer than 2)."""
    if len(sampled) < 2:
        return default
    return (len(sampled) - 1) / max(sampled[-1][1] - sampled[0][1], 1e-6)
