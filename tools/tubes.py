"""Spatio-temporal tubes: one box per frame, linked over time, from per-frame candidate boxes.

A grounding model scores several candidate boxes in every sampled frame; the object a referring
expression names is the chain of boxes that scores well *and* moves smoothly. ``link_tube``
finds it by dynamic programming (Viterbi): over consecutive frames that have candidates (gaps of
at most ``max_gap`` empty frames are bridged), it maximises the sum of box scores plus
``overlap_weight`` times the IoU of each box with the previous one, then keeps the run with the
highest total. Weight-free, so it serves every tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """Candidate boxes of one frame: ``xyxy`` (n, 4) pixels, ``score`` (n,) in [0, 1]; n may be 0."""

    xyxy: np.ndarray
    score: np.ndarray


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, m) intersection over union of (n, 4) and (m, 4) boxes x1 y1 x2 y2.

    >>> iou_matrix(np.array([[0, 0, 2, 2]]), np.array([[1, 0, 3, 2], [5, 5, 6, 6]])).round(3).tolist()
    [[0.333, 0.0]]
    """
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def link_tube(frames: Sequence[Candidates], overlap_weight: float = 1.0, max_gap: int = 1) -> list[int | None]:
    """The tube through ``frames`` (in time order): for each frame the index of its chosen
    candidate, or None where the tube does not pass (before its start, after its end, or in a
    bridged gap). All None when no frame has a candidate."""
    runs = _runs([len(f.score) > 0 for f in frames], max_gap)
    best: tuple[float, list[int | None]] = (-np.inf, [None] * len(frames))
    for start, end in runs:
        total, path = _viterbi(frames, start, end, overlap_weight)
        if total > best[0]:
            best = (total, path)
    return best[1]


def _runs(present: list[bool], max_gap: int) -> list[tuple[int, int]]:
    """(first, last) frame indices of the runs of frames with candidates, gaps <= max_gap bridged."""
    runs: list[tuple[int, int]] = []
    for i, here in enumerate(present):
        if not here:
            continue
        if runs and i - runs[-1][1] - 1 <= max_gap:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _viterbi(frames: Sequence[Candidates], start: int, end: int, weight: float) -> tuple[float, list[int | None]]:
    steps = [i for i in range(start, end + 1) if len(frames[i].score)]
    value = np.asarray(frames[steps[0]].score, np.float64)
    back: list[np.ndarray] = []
    for prev, cur in zip(steps, steps[1:]):
        link = value[:, None] + weight * iou_matrix(frames[prev].xyxy, frames[cur].xyxy)
        back.append(np.argmax(link, axis=0))
        value = link.max(axis=0) + np.asarray(frames[cur].score, np.float64)
    choice = int(np.argmax(value))
    path: list[int | None] = [None] * len(frames)
    path[steps[-1]] = choice
    for k in range(len(steps) - 1, 0, -1):
        choice = int(back[k - 1][choice])
        path[steps[k - 1]] = choice
    return float(value.max()), path
