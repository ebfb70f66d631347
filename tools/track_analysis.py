"""Model-free facts about tracked boxes: counts, visible intervals, motion direction.

Inputs are ``Detections`` with ``track_id`` set (one row per box per sampled frame) and the
sampling period, so that a gap of more than ``gap_factor`` sampling periods splits an interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.detections import Detections


@dataclass(frozen=True)
class Interval:
    start_s: float
    end_s: float


@dataclass(frozen=True)
class TrackSummary:
    """One track. Positions are box centres in source pixels; ``scale_ratio`` is the last
    box's area over the first's."""

    track_id: int
    label: str
    first_s: float
    last_s: float
    n_boxes: int
    intervals: tuple[Interval, ...]
    start_center: tuple[float, float]
    end_center: tuple[float, float]
    scale_ratio: float
    best_box: tuple[float, float, float, float]
    best_time_s: float


def summarize_tracks(dets: Detections, sample_period_s: float, gap_factor: float = 2.5) -> list[TrackSummary]:
    """Summaries of every track (rows with ``track_id`` -1 are ignored), ordered by first time."""
    if dets.track_id is None or not len(dets):
        return []
    out = []
    for tid in np.unique(dets.track_id[dets.track_id >= 0]):
        rows = dets[dets.track_id == tid]
        order = np.argsort(rows.time_s, kind="stable")
        times, boxes = rows.time_s[order], rows.xyxy[order]
        centers = (boxes[:, :2] + boxes[:, 2:]) / 2
        areas = np.prod(np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-6), axis=1)
        best = int(np.argmax(rows.confidence[order]))
        out.append(
            TrackSummary(
                track_id=int(tid),
                label=str(_majority(rows.label)),
                first_s=float(times[0]),
                last_s=float(times[-1]),
                n_boxes=len(rows),
                intervals=visible_intervals(times, sample_period_s * gap_factor),
                start_center=_edge_mean(centers, first=True),
                end_center=_edge_mean(centers, first=False),
                scale_ratio=float(np.mean(areas[-2:]) / np.mean(areas[:2])),
                best_box=tuple(float(v) for v in boxes[best]),
                best_time_s=float(times[best]),
            )
        )
    return sorted(out, key=lambda t: (t.first_s, t.track_id))


def visible_intervals(times: np.ndarray, max_gap_s: float) -> tuple[Interval, ...]:
    """Merge sorted sample times into intervals, splitting where two samples are > max_gap_s apart."""
    if len(times) == 0:
        return ()
    splits = np.nonzero(np.diff(times) > max_gap_s)[0]
    starts = np.concatenate([[0], splits + 1])
    ends = np.concatenate([splits, [len(times) - 1]])
    return tuple(Interval(float(times[a]), float(times[b])) for a, b in zip(starts, ends))


def max_simultaneous(dets: Detections, label: str) -> tuple[int, float | None]:
    """The most boxes of ``label`` in one frame, and the first time that happens."""
    rows = dets[dets.label == label]
    if not len(rows):
        return 0, None
    frames, counts = np.unique(rows.frame_index, return_counts=True)
    best = int(np.argmax(counts))
    time_s = float(rows.time_s[rows.frame_index == frames[best]][0])
    return int(counts[best]), time_s


def motion_of(track: TrackSummary, frame_width: int, frame_height: int, min_shift: float = 0.08,
              min_scale: float = 1.5) -> str:
    """Plain-words motion of one track: horizontal and vertical shift as a fraction of the
    frame (ignored below ``min_shift``) and growth or shrinkage of the box (``min_scale``)."""
    dx = (track.end_center[0] - track.start_center[0]) / frame_width
    dy = (track.end_center[1] - track.start_center[1]) / frame_height
    parts = []
    if abs(dx) >= min_shift:
        parts.append("left to right" if dx > 0 else "right to left")
    if abs(dy) >= min_shift:
        parts.append("downwards" if dy > 0 else "upwards")
    if track.scale_ratio >= min_scale:
        parts.append("towards the camera")
    elif track.scale_ratio <= 1 / min_scale:
        parts.append("away from the camera")
    return ", ".join(parts) if parts else "roughly stationary"


def _majority(labels: np.ndarray) -> str:
    values, counts = np.unique(labels, return_counts=True)
    return values[int(np.argmax(counts))]


def _edge_mean(centers: np.ndarray, first: bool) -> tuple[float, float]:
    """Mean of the first (or last) fifth of positions, at least one: steadier than one box."""
    k = max(1, len(centers) // 5)
    part = centers[:k] if first else centers[-k:]
    return float(part[:, 0].mean()), float(part[:, 1].mean())
