"""ByteTrack (Zhang et al., ECCV 2022) with appearance, for one class of boxes from any detector.

Per frame: a constant-velocity Kalman filter predicts every track's box; confident boxes are
matched first to live and recently lost tracks by overlap and appearance, then the remaining
live tracks take the low-score boxes (ByteTrack's second association: an occluded or blurred
person scores low but is still there), then tracks lost for longer are matched back by
appearance and distance (their predicted box rarely still overlaps). A new track starts from
an unmatched confident box, tentatively: it is kept (with its first box) once a second frame
confirms it. Lost tracks are kept ``lost_s`` seconds.

Steps are the frames the tracker is given, whatever their rate; the Kalman filter's unit of
time is one step, and every limit expressed in seconds is converted with the sampling rate.

>>> tracker = ByteTracker(TrackerConfig(), fps=10)                          # doctest: +SKIP
>>> ids = tracker.update(boxes_xyxy, scores, features)   # (n,) track id per box, -1: none
>>> tracker.finish()                                     # every confirmed track's boxes
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tools.errors import require

LARGE = 1e6


@dataclass(frozen=True)
class TrackerConfig:
    """Association settings. Scores are the detector's confidences (0-1).

    The defaults were fitted to SSD-MobileNet's person scores (true boxes mostly score 0.35-0.9;
    between 0.2 and 0.35 about half are people, half clutter) on PETS09-S2L1 and checked on a
    second, rendered sequence (BENCHMARKS.md). Appearance distances of one person seen a second
    or more apart are below 0.1 in 60-85% of pairs, of two different people in 7-10%.
    """

    high_score: float = 0.5
    """Boxes at or above this take part in the first association and may start tracks."""
    low_score: float = 0.2
    """Boxes between this and ``high_score`` only extend live tracks (second association)."""
    new_track_score: float = 0.5
    """An unmatched box starts a (tentative) track only at or above this."""
    match_iou: float = 0.2
    """First association: least overlap of a box with a track's predicted box."""
    low_match_iou: float = 0.4
    """Second association (low-score boxes): least overlap."""
    tentative_iou: float = 0.3
    """A tentative track is confirmed by a box overlapping its prediction at least this much."""
    appearance_weight: float = 0.5
    """Share of the appearance distance in the first association's cost (the rest: 1 - IoU)."""
    max_appearance: float = 0.1
    """Appearance distance (1 - cosine of colour histograms) above which a box cannot join a track."""
    reid_appearance: float = 0.1
    """Appearance limit for matching a box back to a track lost beyond overlap."""
    reid_radius: float = 1.0
    """Re-identification: how far (in track heights) a box may lie from where the track was
    predicted, plus ``reid_radius_per_s`` for every second it has been lost."""
    reid_radius_per_s: float = 0.5
    lost_s: float = 3.0
    """Seconds a lost track waits to be found again before it is closed."""
    feature_momentum: float = 0.9
    """A track's appearance is the running average of its boxes' (this weight on the past)."""


class _Kalman:
    """Constant-velocity Kalman filter on (centre x, centre y, aspect w/h, height) and their
    velocities per step, with noise proportional to the box height (ByteTrack's / DeepSORT's)."""

    POS = 1.0 / 20
    VEL = 1.0 / 160

    def __init__(self) -> None:
        self.F = np.eye(8)
        self.F[:4, 4:] = np.eye(4)
        self.H = np.eye(4, 8)

    def initiate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = z[3]
        std = [2 * self.POS * h, 2 * self.POS * h, 1e-2, 2 * self.POS * h,
               10 * self.VEL * h, 10 * self.VEL * h, 1e-5, 10 * self.VEL * h]
        return np.r_[z, np.zeros(4)], np.diag(np.square(std))

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = mean[3]
        std = [self.POS * h, self.POS * h, 1e-2, self.POS * h, self.VEL * h, self.VEL * h, 1e-5, self.VEL * h]
        return self.F @ mean, self.F @ cov @ self.F.T + np.diag(np.square(std))

    def update(self, mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = mean[3]
        r = np.diag(np.square([self.POS * h, self.POS * h, 1e-1, self.POS * h]))
        s = self.H @ cov @ self.H.T + r
        gain = np.linalg.solve(s, (cov @ self.H.T).T).T
        return mean + gain @ (z - self.H @ mean), cov - gain @ s @ gain.T


def xyxy_to_xyah(b: np.ndarray) -> np.ndarray:
    w, h = b[2] - b[0], max(b[3] - b[1], 1e-3)
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, w / h, h])


def xyah_to_xyxy(m: np.ndarray) -> np.ndarray:
    w = m[2] * m[3]
    return np.array([m[0] - w / 2, m[1] - m[3] / 2, m[0] + w / 2, m[1] + m[3] / 2])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of two sets of x1 y1 x2 y2 boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a, b = np.asarray(a, float)[:, None], np.asarray(b, float)[None]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one pairs (row, column), leaving out pairs whose cost is ``LARGE``."""
    if cost.size == 0:
        return []
    optimize = require("scipy.optimize", "lite", "scipy")
    rows, cols = optimize.linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < LARGE]


@dataclass
class TrackState:
    """One track while tracking. ``boxes``: what it observed, as (step, x1 y1 x2 y2, score,
    index of the box in that step's ``update`` call)."""

    track_id: int
    mean: np.ndarray
    cov: np.ndarray
    feature: np.ndarray | None
    confirmed: bool
    last_step: int
    boxes: list[tuple[int, np.ndarray, float, int]] = field(default_factory=list)

    def predicted_box(self) -> np.ndarray:
        return xyah_to_xyxy(self.mean)


class ByteTracker:
    """Tracks one class of boxes frame by frame (see the module docstring).

    ``fps``: frames given per second of video (converts ``lost_s`` and the re-identification
    radius to steps).
    """

    def __init__(self, config: TrackerConfig, fps: float):
        self.config = config
        self.fps = fps
        self.kalman = _Kalman()
        self.max_lost_steps = max(1, int(round(config.lost_s * fps)))
        self.step = -1
        self.active: list[TrackState] = []
        self.closed: list[TrackState] = []
        self._next_id = 1

    def update(self, boxes: np.ndarray, scores: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """Feed the next frame: ``boxes`` (n, 4) x1 y1 x2 y2, ``scores`` (n,), ``features`` (n, d)
        unit appearance vectors or None. Returns (n,) the track id each box joined (-1: none;
        a tentative track's id is returned too, and dropped later if it is not confirmed)."""
        c = self.config
        self.step += 1
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        scores = np.asarray(scores, float).reshape(-1)
        if len(scores) != len(boxes) or (features is not None and len(features) != len(boxes)):
            raise ValueError(f"{len(boxes)} boxes, {len(scores)} scores and "
                             f"{'no' if features is None else len(features)} features do not match")
        ids = np.full(len(boxes), -1, dtype=np.int64)
        for t in self.active:
            if self.step - t.last_step > 1:
                t.mean[7] = 0.0  # a lost track keeps moving but stops growing or shrinking
            t.mean, t.cov = self.kalman.predict(t.mean, t.cov)

        high = [i for i in range(len(boxes)) if scores[i] >= c.high_score]
        low = [i for i in range(len(boxes)) if c.low_score <= scores[i] < c.high_score]
        confirmed = [t for t in self.active if t.confirmed]
        recent = [t for t in confirmed if self.step - t.last_step <= 2]

        # 1. confident boxes <-> live and recently lost tracks: overlap and appearance
        pairs = assign(self._first_cost(recent, boxes[high], features, high))
        for r, k in pairs:
            self._extend(recent[r], high[k], boxes, scores, features, ids)
        left_high = [high[k] for k in range(len(high)) if k not in {k for _, k in pairs}]
        unmatched = [recent[r] for r in range(len(recent)) if r not in {r for r, _ in pairs}]

        # 2. low-score boxes <-> live tracks still unmatched: overlap only
        live = [t for t in unmatched if t.last_step == self.step - 1]
        iou = iou_matrix([t.predicted_box() for t in live], boxes[low])
        pairs = assign(np.where(iou >= c.low_match_iou, 1 - iou, LARGE))
        for r, k in pairs:
            self._extend(live[r], low[k], boxes, scores, features, ids)

        # 3. confident boxes <-> tracks lost beyond overlap: appearance and distance
        lost = [t for t in confirmed if t.last_step < self.step]
        pairs = assign(self._reid_cost(lost, boxes[left_high], features, left_high))
        for r, k in pairs:
            self._extend(lost[r], left_high[k], boxes, scores, features, ids)
        left_high = [left_high[k] for k in range(len(left_high)) if k not in {k for _, k in pairs}]

        # 4. tentative tracks <-> remaining confident boxes: overlap
        tentative = [t for t in self.active if not t.confirmed]
        iou = iou_matrix([t.predicted_box() for t in tentative], boxes[left_high])
        pairs = assign(np.where(iou >= c.tentative_iou, 1 - iou, LARGE))
        for r, k in pairs:
            tentative[r].confirmed = True
            self._extend(tentative[r], left_high[k], boxes, scores, features, ids)
        taken = {k for _, k in pairs}
        left_high = [left_high[k] for k in range(len(left_high)) if k not in taken]

        # 5. new tracks; tentative tracks not confirmed now are dropped; old lost tracks closed
        self.active = [t for t in self.active if t.confirmed or t.last_step == self.step]
        for i in left_high:
            if scores[i] >= c.new_track_score:
                self._start(i, boxes, scores, features, ids, confirmed=self.step == 0)
        keep = []
        for t in self.active:
            (keep if self.step - t.last_step <= self.max_lost_steps else self.closed).append(t)
        self.active = keep
        return ids

    def finish(self) -> list[TrackState]:
        """Every confirmed track (closed or still active), by id."""
        tracks = [t for t in self.closed + self.active if t.confirmed]
        self.closed, self.active = [], []
        return sorted(tracks, key=lambda t: t.track_id)

    # -- internals ---------------------------------------------------------------------------

    def _appearance(self, tracks: list[TrackState], features: np.ndarray | None, rows: list[int]) -> np.ndarray:
        """(tracks, rows) appearance distances in [0, 1] (zeros when either side has none)."""
        out = np.zeros((len(tracks), len(rows)))
        if features is None or not rows:
            return out
        for r, t in enumerate(tracks):
            if t.feature is not None:
                out[r] = np.clip(1.0 - features[rows] @ t.feature, 0.0, 1.0)
        return out

    def _first_cost(self, tracks, boxes, features, rows) -> np.ndarray:
        c = self.config
        iou = iou_matrix([t.predicted_box() for t in tracks], boxes)
        app = self._appearance(tracks, features, rows)
        w = c.appearance_weight if features is not None else 0.0
        cost = (1 - w) * (1 - iou) + w * app
        return np.where((iou >= c.match_iou) & (app <= c.max_appearance), cost, LARGE)

    def _reid_cost(self, tracks, boxes, features, rows) -> np.ndarray:
        c = self.config
        cost = np.full((len(tracks), len(rows)), LARGE)
        if features is None or not tracks or not rows:
            return cost
        app = self._appearance(tracks, features, rows)
        for r, t in enumerate(tracks):
            last = t.boxes[-1][1]
            height = last[3] - last[1]
            lost_s = (self.step - t.last_step) / self.fps
            radius = height * (c.reid_radius + c.reid_radius_per_s * lost_s)
            pred = t.predicted_box()
            for k, i in enumerate(rows):
                b = boxes[k]
                dist = np.hypot((b[0] + b[2] - pred[0] - pred[2]) / 2, (b[1] + b[3] - pred[1] - pred[3]) / 2)
                ratio = (b[3] - b[1]) / max(height, 1e-3)
                if dist <= radius and 0.67 <= ratio <= 1.5 and app[r, k] <= c.reid_appearance:
                    cost[r, k] = app[r, k] + 0.1 * dist / radius
        return cost

    def _extend(self, t: TrackState, i: int, boxes, scores, features, ids) -> None:
        t.mean, t.cov = self.kalman.update(t.mean, t.cov, xyxy_to_xyah(boxes[i]))
        if self.step - t.last_step > 1:
            # Found again after a gap: restart the velocity from the boxes rather than
            # trusting what the filter drifted to while nothing was seen.
            t.mean[4:] = 0.0
            t.mean[:4] = xyxy_to_xyah(boxes[i])
        t.last_step = self.step
        t.boxes.append((self.step, boxes[i].copy(), float(scores[i]), i))
        if features is not None and scores[i] >= self.config.high_score:
            f = features[i]
            m = self.config.feature_momentum
            t.feature = f.copy() if t.feature is None else _unit(m * t.feature + (1 - m) * f)
        ids[i] = t.track_id

    def _start(self, i: int, boxes, scores, features, ids, confirmed: bool) -> None:
        mean, cov = self.kalman.initiate(xyxy_to_xyah(boxes[i]))
        t = TrackState(self._next_id, mean, cov, None, confirmed, self.step - 1)
        self._next_id += 1
        self.active.append(t)
        self._extend(t, i, boxes, scores, features, ids)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v
