"""Picking frames by score: the best ``k``, never two near-duplicate neighbours, in time order."""

from __future__ import annotations

import numpy as np


def temporal_nms(times_s: np.ndarray, scores: np.ndarray, k: int, min_gap_s: float) -> list[int]:
    """Indices of up to ``k`` frames by falling score, each at least ``min_gap_s`` seconds from
    every frame already picked (temporal non-maximum suppression), returned in time order.

    >>> temporal_nms(np.array([0.0, 0.5, 1.0, 3.0]), np.array([0.2, 0.9, 0.8, 0.1]), k=3, min_gap_s=1.0)
    [1, 3]
    """
    times_s, scores = np.asarray(times_s, np.float64), np.asarray(scores, np.float64)
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if len(kept) == k:
            break
        if all(abs(times_s[i] - times_s[j]) >= min_gap_s for j in kept):
            kept.append(int(i))
    return sorted(kept, key=lambda i: (times_s[i], i))
