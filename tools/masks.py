"""Binary masks stored compactly: run-length encoding (RLE) and the boxes masks cover.

RLE here is COCO's idea in row-major order: each mask, flattened row by row, becomes the lengths
of its alternating runs, starting with a run of False (0 when the first pixel is True). A smooth
object mask of H rows needs about 2 runs per row instead of H x W bits.

>>> m = np.array([[[0, 1, 1], [0, 0, 1]]], dtype=bool)
>>> counts, lengths = rle_encode(m)
>>> counts.tolist(), lengths.tolist()
([1, 2, 2, 1], [4])
>>> bool(np.array_equal(rle_decode(counts, lengths, m.shape), m))
True
"""

from __future__ import annotations

import numpy as np


def rle_encode(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W) bool -> (runs, lengths): ``runs`` (k,) uint32, every mask's run lengths one after
    the other; ``lengths`` (n,) int64, how many runs each mask has."""
    masks = np.asarray(masks, dtype=bool)
    runs, lengths = [], []
    for mask in masks.reshape(len(masks), int(np.prod(masks.shape[1:]))):
        change = np.flatnonzero(mask[1:] != mask[:-1]) + 1
        edges = np.concatenate([[0], change, [mask.size]])
        counts = np.diff(edges)
        if mask.size and mask[0]:
            counts = np.concatenate([[0], counts])
        runs.append(counts)
        lengths.append(len(counts))
    flat = np.concatenate(runs).astype(np.uint32) if runs else np.zeros(0, np.uint32)
    return flat, np.asarray(lengths, dtype=np.int64)


def rle_decode(runs: np.ndarray, lengths: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of ``rle_encode``: (n, H, W) bool of ``shape``."""
    n, h, w = shape
    out = np.zeros((n, h * w), dtype=bool)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    for i in range(n):
        counts = np.asarray(runs[starts[i] : starts[i + 1]], dtype=np.int64)
        if counts.sum() != h * w:
            raise ValueError(f"mask {i}: runs cover {counts.sum()} pixels, the shape {h}x{w} has {h * w}")
        ends = np.cumsum(counts)
        for start, end in zip(ends[0::2], ends[1::2]):  # odd runs are True
            out[i, start:end] = True
    return out.reshape(shape)


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """(n, H, W) bool -> (n, 4) float32 pixel boxes x1 y1 x2 y2 around each mask's True pixels
    (x2, y2 exclusive: a one-pixel mask at (x, y) gives (x, y, x + 1, y + 1)); an empty mask gives
    (0, 0, 0, 0).

    >>> mask_boxes(np.pad(np.ones((1, 2, 3), bool), ((0, 0), (1, 0), (4, 0)))).tolist()
    [[4.0, 1.0, 7.0, 3.0]]
    """
    masks = np.asarray(masks, dtype=bool)
    out = np.zeros((len(masks), 4), dtype=np.float32)
    for i, mask in enumerate(masks):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if len(rows):
            out[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return out
