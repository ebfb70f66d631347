"""Basic colour name of an image region (no model: per-pixel HSV rules and a vote).

Each pixel of the region, minus a margin near its border (where a detection box mostly
holds background), is named one of ``BASIC_COLORS``; the region's colour is the name with
most pixels. ``fractions`` keeps the whole vote, so a caller can ask "is at least a quarter
of this box red?" (``has_color``) instead of trusting only the winner: a red car's box also
holds black tyres, grey windows and shadows.

>>> dominant_color(image, box=(10, 20, 200, 150)).name   # doctest: +SKIP
'red'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BASIC_COLORS: tuple[str, ...] = (
    "black", "white", "gray", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown",
)  # fmt: skip

# Pixel rules, on H in degrees [0, 360), S and V in [0, 1]:
DARK_V = 0.22  # below: black, whatever the hue
GRAY_S = 0.20  # below (and not dark): white / gray by V
WHITE_V = 0.78
BROWN_V = 0.62  # red/orange/yellow hues darker than this (and not vivid) are brown
TAN_S, TAN_V = 0.68, 0.85  # orange hues this pale and not bright are light brown (wood, tan)
HUE_BINS: tuple[tuple[float, str], ...] = (  # upper edge (exclusive) of each hue range
    (10, "red"), (40, "orange"), (68, "yellow"), (165, "green"), (255, "blue"),
    (290, "purple"), (335, "pink"), (360, "red"),
)  # fmt: skip


@dataclass(frozen=True)
class ColorEstimate:
    """Colour of a region. ``name``: the winning basic colour; ``fraction``: its share of the
    counted pixels in [0, 1]; ``fractions``: share of every basic colour (sums to 1);
    ``pixels``: how many pixels were counted."""

    name: str
    fraction: float
    fractions: dict[str, float]
    pixels: int


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (..., 3) float32 H in degrees [0, 360), S and V in [0, 1]."""
    x = rgb.astype(np.float32) / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = x.max(axis=-1)
    c = v - x.min(axis=-1)
    s = np.where(v > 0, c / np.maximum(v, 1e-6), 0.0)
    safe = np.maximum(c, 1e-6)
    h = np.where(v == r, ((g - b) / safe) % 6.0, np.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    h = np.where(c > 0, h * 60.0, 0.0) % 360.0
    return np.stack([h, s, v], axis=-1).astype(np.float32)


def name_pixels(rgb: np.ndarray) -> np.ndarray:
    """(...,) int index into ``BASIC_COLORS`` for each pixel of an (..., 3) uint8 RGB array."""
    hsv = rgb_to_hsv(rgb)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    index = {name: i for i, name in enumerate(BASIC_COLORS)}
    edges = np.array([e for e, _ in HUE_BINS], np.float32)
    hue_names = np.array([index[n] for _, n in HUE_BINS])
    out = hue_names[np.searchsorted(edges, h, side="right").clip(0, len(edges) - 1)]
    warm = (h < 68) | (h >= 335)
    # Brown is dark orange/red/yellow; a dark but vivid red (a red car in shade) stays red.
    brown = warm & (v < BROWN_V) & ~((out == index["red"]) & (s > 0.75) & (v > 0.35))
    tan = (out == index["orange"]) & (s < TAN_S) & (v < TAN_V)
    out = np.where(brown | tan, index["brown"], out)
    # Pink is a pale red.
    out = np.where((out == index["red"]) & (s < 0.5) & (v > 0.7), index["pink"], out)
    achromatic = s < GRAY_S
    out = np.where(achromatic, np.where(v >= WHITE_V, index["white"], index["gray"]), out)
    return np.where(v < DARK_V, index["black"], out)


def _region(image: np.ndarray, box: Sequence[float] | None, border: float) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}")
    if not 0.0 <= border < 0.5:
        raise ValueError(f"border must lie in [0, 0.5), got {border}")
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (0.0, 0.0, float(w), float(h)) if box is None else map(float, box)
    x1, x2 = max(0.0, min(x1, w)), max(0.0, min(x2, w))
    y1, y2 = max(0.0, min(y1, h)), max(0.0, min(y2, h))
    dx, dy = (x2 - x1) * border, (y2 - y1) * border
    xa, xb = int(round(x1 + dx)), int(round(x2 - dx))
    ya, yb = int(round(y1 + dy)), int(round(y2 - dy))
    if xb <= xa or yb <= ya:
        raise ValueError(f"box {tuple(box) if box is not None else None} leaves no pixels inside image {w}x{h}")
    return image[ya:yb, xa:xb]


def dominant_color(image: np.ndarray, box: Sequence[float] | None = None, border: float = 0.15) -> ColorEstimate:
    """Basic colour of ``image`` inside ``box``.

    image: (H, W, 3) uint8 RGB.
    box: x1, y1, x2, y2 in pixels (clipped to the image); None means the whole image.
    border: fraction of the box width/height ignored on each side (0.15 keeps the
        central 70% x 70%).
    """
    region = _region(image, box, border)
    names = name_pixels(region).ravel()
    counts = np.bincount(names, minlength=len(BASIC_COLORS)).astype(np.float64)
    total = int(counts.sum())
    fractions = {name: float(c / total) for name, c in zip(BASIC_COLORS, counts)}
    best = int(np.argmax(counts))
    return ColorEstimate(BASIC_COLORS[best], fractions[BASIC_COLORS[best]], fractions, total)


def has_color(
    image: np.ndarray, box: Sequence[float] | None, color: str, min_fraction: float = 0.25, border: float = 0.15
) -> bool:
    """True when at least ``min_fraction`` of the region's counted pixels are ``color``."""
    if color not in BASIC_COLORS:
        raise ValueError(f"unknown colour {color!r}; expected one of {', '.join(BASIC_COLORS)}")
    return dominant_color(image, box, border).fractions[color] >= min_fraction
