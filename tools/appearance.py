"""What a box looks like, as a small vector: colour histograms of its upper and lower halves.

Weight-free (numpy only), so every tier's tracker can tell two people apart by their clothes
when their boxes meet or one is lost for a while. The inner part of the box is used (its
edges are mostly background), split into top and bottom halves (shirt, trousers); each half
gives a hue-saturation histogram of its coloured pixels and a brightness histogram of all
its pixels. Vectors are square-rooted (Hellinger) and L2-normalised, so ``1 - a @ b`` is a
distance in [0, 1].

>>> feats = colour_features(frame_rgb, boxes_xyxy)          # doctest: +SKIP
>>> feats.shape                                               # (n_boxes, FEATURE_DIM)
"""

from __future__ import annotations

import numpy as np

HUE_BINS = 8
SAT_BINS = 3
VALUE_BINS = 4
PART_DIM = HUE_BINS * SAT_BINS + VALUE_BINS
FEATURE_DIM = 2 * PART_DIM
INNER_X = 0.2
"""Fraction of the width cut from each side of a box (background at the edges)."""
INNER_Y = 0.08
"""Fraction of the height cut from the top and the bottom."""
MIN_SATURATION = 0.15
"""Pixels less saturated than this have no reliable hue: they count only in the brightness bins."""
SAMPLE_SIDE = 24
"""Each half is subsampled to at most this many pixels on a side (speed; enough for a histogram)."""


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue (0-1), saturation (0-1) and value (0-1) of (..., 3) uint8 RGB pixels."""
    x = rgb.astype(np.float32) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = x.max(axis=-1)
    c = v - x.min(axis=-1)
    s = np.where(v > 0, c / np.maximum(v, 1e-6), 0.0)
    safe = np.maximum(c, 1e-6)
    h = np.where(v == r, (g - b) / safe, np.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = (h / 6.0) % 1.0
    return h, s, v


def _part(pixels: np.ndarray) -> np.ndarray:
    """Histogram of one half, (PART_DIM,) float32 summing to 1 (zeros for no pixels)."""
    if pixels.size == 0:
        return np.zeros(PART_DIM, np.float32)
    h, s, v = _hsv(pixels.reshape(-1, 3))
    coloured = s >= MIN_SATURATION
    hue_bin = np.minimum((h[coloured] * HUE_BINS).astype(int), HUE_BINS - 1)
    sat_bin = np.minimum(((s[coloured] - MIN_SATURATION) / (1 - MIN_SATURATION) * SAT_BINS).astype(int), SAT_BINS - 1)
    hs = np.bincount(hue_bin * SAT_BINS + sat_bin, minlength=HUE_BINS * SAT_BINS).astype(np.float32)
    val = np.bincount(np.minimum((v * VALUE_BINS).astype(int), VALUE_BINS - 1), minlength=VALUE_BINS).astype(np.float32)
    out = np.concatenate([hs, val])
    return out / out.sum()


def colour_features(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(n, FEATURE_DIM) float32 unit vectors for ``boxes`` ((n, 4) x1 y1 x2 y2 in the pixels of
    ``image``, an (H, W, 3) uint8 RGB frame). A box outside the image gives a zero vector."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    out = np.zeros((len(boxes), FEATURE_DIM), np.float32)
    height, width = image.shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        w, h = x2 - x1, y2 - y1
        ix1, ix2 = int(max(0, x1 + INNER_X * w)), int(min(width, x2 - INNER_X * w))
        iy1, iy2 = int(max(0, y1 + INNER_Y * h)), int(min(height, y2 - INNER_Y * h))
        if ix2 <= ix1 or iy2 <= iy1:
            continue
        crop = image[iy1:iy2, ix1:ix2]
        step_y = max(1, crop.shape[0] // (2 * SAMPLE_SIDE))
        step_x = max(1, crop.shape[1] // SAMPLE_SIDE)
        crop = crop[::step_y, ::step_x]
        mid = crop.shape[0] // 2
        vec = np.sqrt(np.concatenate([_part(crop[:mid]), _part(crop[mid:])]))
        norm = np.linalg.norm(vec)
        out[i] = vec / norm if norm > 0 else vec
    return out
