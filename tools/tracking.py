"""Multi-object tracking over any detector's boxes: ByteTrack with appearance, per label.

Weight-free, so it serves every tier: the generic ``track_objects`` backend runs it over
whatever ``detect_objects`` backend the profile has, and the MOT evaluation runs it over a
whole sequence. Three passes:

1. online: ``tools.bytetrack.ByteTracker`` frame by frame (Kalman prediction, confident and
   low-score associations, re-identification of lost tracks by colour appearance);
2. offline stitching: the tool sees the whole span, so a track that ends is joined to one
   that starts a little later where it could have walked and looks the same (the tracker had
   lost it for longer than it waits, or a second box took over);
3. smoothing and gap filling: each box is refitted to the track's neighbouring boxes, and
   frames inside a track where its object was missed get a box interpolated between the boxes
   on either side (at most ``max_fill_s`` seconds), marked with confidence 0.

Tracks seen for less than ``MIN_TRACK_S`` seconds are dropped (detector flicker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tools.bytetrack import LARGE, ByteTracker, TrackerConfig, assign
from tools.capabilities import Track
from tools.detections import Detections

#: Tracks with fewer boxes than this are detector flicker and are dropped.
MIN_TRACK_BOXES = 2
#: Tracks seen for less than this many seconds (first to last box) are dropped too.
MIN_TRACK_S = 0.5


@dataclass(frozen=True)
class LinkConfig:
    """Offline passes. Seconds are video time. The defaults were chosen on PETS09-S2L1 and a
    rendered TUD-Stadtmitte (BENCHMARKS.md) and hold at 3-25 frames per second."""

    max_gap_s: float = 6.0
    """Longest gap between a track's end and another's start that stitching bridges."""
    radius: float = 1.0
    """Stitching: how far (in heights) the start of the later track may lie from where the
    earlier one was heading, plus ``radius_per_s`` per second of gap."""
    radius_per_s: float = 0.6
    link_appearance: float = 0.1
    """Stitching: largest appearance distance between the two tracks' mean colours."""
    max_fill_s: float = 2.0
    """Longest gap inside a track that gets interpolated boxes."""
    smooth_s: float = 0.4
    """Each box's centre and size are refitted by a straight line through the track's boxes
    this many seconds either side (boxes of small objects jitter by a fifth of their width)."""


@dataclass
class _Piece:
    """One track's observed boxes, in step order: steps (k,), boxes (k, 4), scores (k,), rows (k,)."""

    steps: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    rows: np.ndarray
    feature: np.ndarray | None

    def velocity(self, end: bool) -> np.ndarray:
        """Centre velocity (pixels per step) over up to 5 boxes at the ``end`` (or start)."""
        k = min(5, len(self.steps))
        sel = slice(-k, None) if end else slice(0, k)
        steps, boxes = self.steps[sel], self.boxes[sel]
        if len(steps) < 2 or steps[-1] == steps[0]:
            return np.zeros(2)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        return (centres[-1] - centres[0]) / (steps[-1] - steps[0])


def track(
    dets: Detections,
    sampled: Sequence[tuple[int, float]],
    fps: float,
    features: np.ndarray | None = None,
    config: TrackerConfig = TrackerConfig(),
    links: LinkConfig = LinkConfig(),
    frame_size: tuple[float, float] | None = None,
) -> Detections:
    """Track every label of ``dets`` over the sampled frames (empty frames included, so tracks age).

    ``dets``: boxes of any detector, rows of the frames in ``sampled``. ``sampled``: every
    frame looked at, as (frame index, time in seconds), in time order. ``fps``: the rate they
    were sampled at, frames per second. ``features``: (len(dets), d) unit appearance vectors
    (``tools.appearance.colour_features``), or None to track by motion alone. Returns the boxes
    that belong to a track plus interpolated boxes (confidence 0) in short gaps, with
    ``track_id`` set; ids are 1..N in order of first appearance across labels. ``frame_size``
    (width, height in pixels): smoothed boxes are clipped to it (a straight-line fit near an edge
    can reach past it).
    """
    out = []
    step_of = {int(f): k for k, (f, _) in enumerate(sampled)}
    frames = np.array([f for f, _ in sampled], dtype=np.int64)
    times = np.array([t for _, t in sampled], dtype=np.float64)
    for label in sorted(set(dets.label.tolist())):
        rows = np.nonzero(dets.label == label)[0]
        by_step: dict[int, list[int]] = {}
        for r in rows:
            by_step.setdefault(step_of[int(dets.frame_index[r])], []).append(int(r))
        tracker = ByteTracker(config, fps)
        for k in range(len(sampled)):
            mine = by_step.get(k, [])
            feats = features[mine] if features is not None else None
            tracker.update(dets.xyxy[mine], dets.confidence[mine], feats)
        # the tracker numbers a frame's boxes 0..n-1: back to rows of ``dets``
        pieces = [_piece([(k, b, sc, by_step[k][i]) for k, b, sc, i in t.boxes], features) for t in tracker.finish()]
        pieces = stitch(pieces, fps, links)
        for tid, piece in enumerate(pieces, start=1):
            piece = smooth(piece, int(round(links.smooth_s * fps)))
            if frame_size is not None:
                piece = _clipped(piece, frame_size)
            out.append(_boxes(piece, dets, label, tid, frames, times, max(1, int(round(links.max_fill_s * fps)))))
    return _renumber(out)


def _piece(boxes, features: np.ndarray | None) -> _Piece:
    steps = np.array([b[0] for b in boxes], dtype=np.int64)
    rows = np.array([b[3] for b in boxes], dtype=np.int64)
    scores = np.array([b[2] for b in boxes], dtype=np.float64)
    feature = None
    if features is not None:
        confident = rows[scores >= np.median(scores)] if len(rows) else rows
        mean = features[confident].mean(axis=0) if len(confident) else None
        feature = mean / np.linalg.norm(mean) if mean is not None and np.linalg.norm(mean) > 0 else None
    return _Piece(steps, np.array([b[1] for b in boxes], dtype=np.float64).reshape(-1, 4), scores, rows, feature)


def stitch(pieces: list[_Piece], fps: float, links: LinkConfig) -> list[_Piece]:
    """Join track ends to later track starts that fit (position, size, appearance), one to one,
    best first; repeated until nothing more joins. Pieces without appearance are not joined."""
    max_gap = links.max_gap_s * fps
    while True:
        n = len(pieces)
        cost = np.full((n, n), LARGE)
        for a, pa in enumerate(pieces):
            if pa.feature is None:
                continue
            end_box, end_step = pa.boxes[-1], pa.steps[-1]
            vel = pa.velocity(end=True)
            height = end_box[3] - end_box[1]
            for b, pb in enumerate(pieces):
                gap = pb.steps[0] - end_step
                if a == b or pb.feature is None or gap <= 0 or gap > max_gap:
                    continue
                app = 1.0 - float(pa.feature @ pb.feature)
                if app > links.link_appearance:
                    continue
                start = pb.boxes[0]
                ratio = (start[3] - start[1]) / max(height, 1e-3)
                if not 0.67 <= ratio <= 1.5:
                    continue
                # where the earlier track was heading, with its speed trusted for at most 1 s
                heading = (end_box[:2] + end_box[2:]) / 2 + vel * min(gap, fps)
                dist = np.hypot(*((start[:2] + start[2:]) / 2 - heading))
                radius = height * (links.radius + links.radius_per_s * gap / fps)
                if dist <= radius:
                    cost[a, b] = app / links.link_appearance + dist / radius + gap / max_gap
        pairs = assign(cost)
        if not pairs:
            return pieces
        joined = {b for _, b in pairs}
        merged = dict(pairs)
        out = []
        for a, pa in enumerate(pieces):
            if a in joined:
                continue
            while a in merged:
                a_next = merged.pop(a)
                pa = _join(pa, pieces[a_next])
                a = a_next
            out.append(pa)
        pieces = out


def smooth(piece: _Piece, half_steps: int) -> _Piece:
    """The piece with each box's centre, width and height replaced by a straight-line fit to
    the piece's boxes within ``half_steps`` steps either side (0: unchanged)."""
    if half_steps <= 0 or len(piece.steps) < 3:
        return piece
    b = piece.boxes
    cwh = np.c_[(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]]
    steps = piece.steps.astype(np.float64)
    fitted = np.empty_like(cwh)
    for i, s in enumerate(steps):
        near = np.abs(steps - s) <= half_steps
        dt = steps[near] - s
        if near.sum() >= 3 and np.ptp(dt) > 0:
            # a straight line through the neighbours, read at this step: no lag on steady motion
            design = np.c_[np.ones(near.sum()), dt]
            coef, *_ = np.linalg.lstsq(design, cwh[near], rcond=None)
            fitted[i] = coef[0]
        else:
            fitted[i] = cwh[near].mean(axis=0)
    fitted[:, 2:] = np.maximum(fitted[:, 2:], 0.0)  # a fit may not turn a box inside out
    boxes = np.c_[fitted[:, :2] - fitted[:, 2:] / 2, fitted[:, :2] + fitted[:, 2:] / 2]
    return _Piece(piece.steps, boxes, piece.scores, piece.rows, piece.feature)


def _clipped(piece: _Piece, frame_size: tuple[float, float]) -> _Piece:
    width, height = frame_size
    boxes = np.clip(piece.boxes, 0.0, [width, height, width, height])
    return _Piece(piece.steps, boxes, piece.scores, piece.rows, piece.feature)


def _join(a: _Piece, b: _Piece) -> _Piece:
    na, nb = len(a.steps), len(b.steps)
    feature = a.feature * na + b.feature * nb
    return _Piece(np.r_[a.steps, b.steps], np.r_[a.boxes, b.boxes], np.r_[a.scores, b.scores], np.r_[a.rows, b.rows],
                  feature / np.linalg.norm(feature))


def _boxes(piece: _Piece, dets: Detections, label: str, tid: int, frames: np.ndarray, times: np.ndarray,
           max_fill_steps: int) -> Detections:
    """The piece's boxes as Detections, with interpolated boxes in gaps of at most ``max_fill_steps``."""
    steps, boxes, conf = list(piece.steps), list(piece.boxes), list(dets.confidence[piece.rows].astype(float))
    for (s0, b0), (s1, b1) in zip(zip(piece.steps[:-1], piece.boxes[:-1]), zip(piece.steps[1:], piece.boxes[1:])):
        if 1 < s1 - s0 <= max_fill_steps:
            for s in range(s0 + 1, s1):
                w = (s - s0) / (s1 - s0)
                steps.append(s)
                boxes.append((1 - w) * b0 + w * b1)
                conf.append(0.0)
    order = np.argsort(steps, kind="stable")
    steps = np.asarray(steps)[order]
    n = len(steps)
    return Detections(np.asarray(boxes)[order], np.asarray(conf)[order], np.full(n, label), frames[steps], times[steps],
                      track_id=np.full(n, tid, dtype=np.int64))


def _empty() -> Detections:
    return Detections(np.zeros((0, 4)), [], [], [], [], track_id=np.zeros(0, dtype=np.int64))


def _renumber(parts: list[Detections]) -> Detections:
    if not parts:
        return _empty()
    merged = Detections.merge(parts)
    keys = np.array([f"{lbl}#{tid}" for lbl, tid in zip(merged.label, merged.track_id)])
    observed = merged.confidence > 0
    names, counts = np.unique(keys[observed], return_counts=True)
    spans = np.array([np.ptp(merged.time_s[observed & (keys == k)]) for k in names])
    lasting = np.isin(keys, names[(counts >= MIN_TRACK_BOXES) & (spans >= MIN_TRACK_S - 1e-6)])
    merged, keys = merged[lasting], keys[lasting]
    if not len(merged):
        return _empty()
    first_seen: dict[str, float] = {}
    for key, t in zip(keys, merged.time_s):
        first_seen[key] = min(first_seen.get(key, t), t)
    order = {key: i + 1 for i, key in enumerate(sorted(first_seen, key=lambda k: (first_seen[k], k)))}
    ids = np.array([order[k] for k in keys], dtype=np.int64)
    rows = np.lexsort((ids, merged.frame_index))
    return Detections(merged.xyxy[rows], merged.confidence[rows], merged.label[rows], merged.frame_index[rows],
                      merged.time_s[rows], track_id=ids[rows])


def tracks_of(dets: Detections) -> list[Track]:
    """One ``Track`` per track id of ``dets`` (boxes with ``track_id`` set), by id. ``n_boxes``
    counts the boxes seen (interpolated ones, confidence 0, are not counted)."""
    tracks = []
    for tid in np.unique(dets.track_id):
        rows = dets[dets.track_id == tid]
        tracks.append(Track(track_id=int(tid), label=str(rows.label[0]), first_s=float(rows.time_s.min()),
                            last_s=float(rows.time_s.max()), n_boxes=int((rows.confidence > 0).sum())))
    return sorted(tracks, key=lambda t: t.track_id)


def sampling_rate(sampled: Sequence[tuple[int, float]], default: float) -> float:
    """Frames per second of a list of (frame index, time) samples (``default`` for fewer than 2)."""
    if len(sampled) < 2:
        return default
    return (len(sampled) - 1) / max(sampled[-1][1] - sampled[0][1], 1e-6)
