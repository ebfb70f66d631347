"""Weight-free shot boundary (hard cut) detection on small decoded frames, numpy only.

Method (after PySceneDetect's ContentDetector and AdaptiveDetector): frames are decoded about
160 px wide and converted to HSV; the *content change* between consecutive frames is the mean
absolute difference of hue (circular), saturation and value, each on a 0..255 scale, averaged.
A cut is a change that is both large in absolute terms (``min_score``) and large relative to
the changes around it (``threshold`` times the mean of ``window`` pairs on each side), so fast
motion or a passing foreground object, which raises the change over many frames, is not a cut.
Cuts closer together than ``min_shot_s`` are thinned to the strongest. Gradual transitions
(fades, dissolves) are not detected.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tools.types import DecodeStats, TimeSpan
from tools.video import VideoReader, size_for_width

DEFAULT_THRESHOLD = 2.5
DEFAULT_MIN_SCORE = 15.0
DEFAULT_MIN_SHOT_S = 0.5
DEFAULT_WINDOW = 2
ANALYSIS_WIDTH = 160


class ShotBoundary(BaseModel):
    """A hard cut: ``frame_index`` is the first frame of the new shot, shown at ``time_s``
    seconds; ``score`` is the content change across the cut (mean HSV difference, 0..255)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_s: float = Field(ge=0, description="seconds from the start of the video")
    frame_index: int = Field(ge=0)
    score: float = Field(ge=0, description="mean absolute HSV change across the cut, 0..255")


def detect_shot_boundaries(
    reader: VideoReader,
    span: TimeSpan | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    min_shot_s: float = DEFAULT_MIN_SHOT_S,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    window: int = DEFAULT_WINDOW,
    width: int = ANALYSIS_WIDTH,
    stats: DecodeStats | None = None,
) -> list[ShotBoundary]:
    """Hard cuts inside ``span`` (the whole video if None), in time order.

    ``threshold``: how many times larger than its neighbours' mean a change must be.
    ``min_score``: smallest content change (0..255) that can be a cut. ``min_shot_s``: shortest
    shot in seconds; of two cuts closer than that, the stronger is kept. ``window``: pairs on
    each side that form the neighbours' mean. ``width``: analysis frame width in pixels.
    """
    indices, scores = content_scores(reader, span, width=width, stats=stats)
    if len(scores) == 0:
        return []
    ratios = adaptive_ratios(scores, window)
    candidates = np.flatnonzero((scores >= min_score) & (ratios >= threshold))
    times = reader.timestamps[indices[1:]]
    kept = _strongest_apart(candidates, scores, times, min_shot_s)
    return [
        ShotBoundary(time_s=float(times[k]), frame_index=int(indices[k + 1]), score=round(float(scores[k]), 3))
        for k in kept
    ]


def content_scores(
    reader: VideoReader,
    span: TimeSpan | None = None,
    *,
    width: int = ANALYSIS_WIDTH,
    stats: DecodeStats | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Content change between consecutive frames of ``span``.

    Returns ``indices`` (n,) int64, the frames analysed, and ``scores`` (n - 1,) float64 where
    ``scores[k]`` is the change from frame ``indices[k]`` to ``indices[k + 1]`` (0..255)."""
    size = size_for_width(reader.meta.width, reader.meta.height, min(width, reader.meta.width))
    indices: list[int] = []
    scores: list[float] = []
    previous: np.ndarray | None = None
    for frame in reader.iter_frames(span, size=size, stats=stats):
        hsv = rgb_to_hsv(frame.image)
        if previous is not None:
            scores.append(content_change(previous, hsv))
        indices.append(frame.index)
        previous = hsv
    return np.asarray(indices, dtype=np.int64), np.asarray(scores, dtype=np.float64)


def rgb_to_hsv(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W, 3) float32 HSV, every channel on a 0..255 scale."""
    rgb = image.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = np.maximum(np.maximum(r, g), b)
    chroma = value - np.minimum(np.minimum(r, g), b)
    safe_chroma = np.where(chroma > 0, chroma, 1.0)
    saturation = np.where(value > 0, 255.0 * chroma / np.where(value > 0, value, 1.0), 0.0)
    hue_sector = np.where(
        value == r,
        ((g - b) / safe_chroma) % 6.0,
        np.where(value == g, (b - r) / safe_chroma + 2.0, (r - g) / safe_chroma + 4.0),
    )
    hue = np.where(chroma > 0, hue_sector * (255.0 / 6.0), 0.0)
    return np.stack([hue, saturation, value], axis=-1).astype(np.float32)


def content_change(hsv_a: np.ndarray, hsv_b: np.ndarray) -> float:
    """Mean absolute HSV difference of two (H, W, 3) HSV images (0..255 scale); hue is
    compared around the colour circle."""
    diff = np.abs(hsv_a - hsv_b)
    hue = np.minimum(diff[..., 0], 255.0 - diff[..., 0])
    return float((hue.mean() + diff[..., 1].mean() + diff[..., 2].mean()) / 3.0)


def adaptive_ratios(scores: np.ndarray, window: int = DEFAULT_WINDOW) -> np.ndarray:
    """Each score divided by the mean of up to ``window`` scores on each side of it (those that
    exist), plus 1 so that near-static neighbours do not blow the ratio up. (n,) -> (n,)."""
    n = len(scores)
    ratios = np.empty(n, dtype=np.float64)
    for k in range(n):
        neighbours = np.concatenate([scores[max(0, k - window) : k], scores[k + 1 : k + 1 + window]])
        mean = float(neighbours.mean()) if len(neighbours) else 0.0
        ratios[k] = scores[k] / (mean + 1.0)
    return ratios


def shots_between(boundaries: list[ShotBoundary], start_s: float, end_s: float) -> list[TimeSpan]:
    """The shots that ``boundaries`` split ``[start_s, end_s]`` into, as TimeSpans in order."""
    cuts = [b.time_s for b in boundaries if start_s < b.time_s < end_s]
    edges = [start_s, *cuts, end_s]
    return [TimeSpan(start_s=a, end_s=b) for a, b in zip(edges[:-1], edges[1:])]


def _strongest_apart(candidates: np.ndarray, scores: np.ndarray, times: np.ndarray, min_gap_s: float) -> list[int]:
    """Greedy non-maximum suppression: strongest candidates first, dropping any within
    ``min_gap_s`` seconds of one already kept. Returns positions in time order."""
    kept: list[int] = []
    for k in sorted(candidates.tolist(), key=lambda k: -scores[k]):
        if all(abs(times[k] - times[j]) >= min_gap_s for j in kept):
            kept.append(k)
    return sorted(kept)
