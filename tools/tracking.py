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
#: A detection at least this confident may start a track (lower ones only extend tracks).
ACTIVATION_CONFIDENCE = 0.5


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
            track_activation_threshold=ACTIVATION_CONFIDENCE,
            minimum_consecutive_frames=1,
            high_conf_det_threshold=ACTIVATION_CONFIDENCE,
        )
        first_boxes = _FirstBoxes()
        mine = dets[dets.label == label]
        for frame_index, time_s in sampled:
            rows = mine[mine.frame_index == frame_index]
            before = list(tracker.tracks)
            tracked = tracker.update(
                sv.Detections(xyxy=rows.xyxy.astype(np.float32), confidence=rows.confidence,
                              class_id=np.zeros(len(rows), dtype=int)),
                timestamp=time_s,
            )
            ids = tracked.tracker_id if tracked.tracker_id is not None else np.full(len(tracked), -1)
            first_boxes.spawned(before, tracker.tracks, tracked.xyxy, tracked.confidence, ids, frame_index, time_s)
            parts = [first_boxes.confirmed(tracker.tracks)]
            keep = ids >= 0
            if keep.any():
                parts.append((tracked.xyxy[keep], tracked.confidence[keep], np.full(int(keep.sum()), frame_index),
                              np.full(int(keep.sum()), time_s), ids[keep]))
            for xyxy, conf, frames, times, tids in parts:
                if len(tids):
                    out.append(Detections(xyxy=xyxy, confidence=conf, label=np.full(len(tids), label),
                                          frame_index=frames, time_s=times, track_id=tids))
    return _renumber(out)


class _FirstBoxes:
    """The first box of each new track, held until ByteTrack numbers the track.

    ByteTrack (``trackers`` 2.6) returns the detection that starts a track with id -1 and
    numbers the track only when a later detection matches it, so without this every track
    would lose its first box (and a track that starts on the first frame, that frame).
    """

    def __init__(self) -> None:
        self._pending: list[tuple[object, int, float, np.ndarray, float]] = []

    def spawned(self, before, after, xyxy: np.ndarray, confidence: np.ndarray, ids: np.ndarray, frame_index: int,
                time_s: float) -> None:
        """Remember the boxes that started the tracklets new in ``after`` (not in ``before``)."""
        known = {id(t) for t in before}
        new = [t for t in after if id(t) not in known]
        starters = np.nonzero((ids < 0) & (np.asarray(confidence) >= ACTIVATION_CONFIDENCE))[0]
        for tracklet in new:
            if not len(starters):
                break
            state = np.asarray(tracklet.get_state_bbox(), dtype=np.float64)
            best = int(starters[np.argmin(np.abs(xyxy[starters] - state).sum(axis=1))])  # the box it was built from
            self._pending.append((tracklet, frame_index, time_s, np.asarray(xyxy[best]), float(confidence[best])))
            starters = starters[starters != best]

    def confirmed(self, alive) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(xyxy, confidence, frame_index, time_s, track_id) of the held boxes whose tracklet now
        has an id; boxes of tracklets that died unnumbered are forgotten."""
        alive_ids = {id(t) for t in alive}
        ready = [p for p in self._pending if p[0].tracker_id >= 0]
        self._pending = [p for p in self._pending if p[0].tracker_id < 0 and id(p[0]) in alive_ids]
        return (np.array([p[3] for p in ready], dtype=np.float32).reshape(-1, 4),
                np.array([p[4] for p in ready], dtype=np.float32),
                np.array([p[1] for p in ready], dtype=np.int64),
                np.array([p[2] for p in ready], dtype=np.float64),
                np.array([p[0].tracker_id for p in ready], dtype=np.int64))


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
