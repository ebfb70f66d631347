"""Frames as JPEG images for a vision-language model, sized within a budget.

A budget is a longest side and a pixel count per image (both in pixels). Vision-language
models pay for an image in proportion to its pixels (Qwen2.5-VL: one token per 28x28 patch),
so the pixel cap is what bounds the token cost; the side cap keeps panoramas reasonable.
The planner's frames (``agent``) and the vision-language tools (``tools.backends.full``) both
size and encode frames here.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import numpy as np

JPEG_QUALITY = 85


@dataclass(frozen=True)
class EncodedImage:
    """One frame as a base64 JPEG. ``width`` and ``height`` in pixels, after resizing."""

    jpeg_b64: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def data_url(self) -> str:
        return "data:image/jpeg;base64," + self.jpeg_b64


def fit_size(width: int, height: int, max_side: int | None = None, max_pixels: int | None = None) -> tuple[int, int]:
    """The largest (width, height) with the same aspect ratio that fits both limits, never
    larger than the source. None (or 0) means no limit. Each side is at least 1 pixel.

    >>> fit_size(640, 272, max_side=320)
    (320, 136)
    >>> fit_size(640, 272, max_pixels=50176)
    (343, 146)
    """
    if width < 1 or height < 1:
        raise ValueError(f"an image needs a positive size, got {width}x{height}")
    scale = 1.0
    if max_side:
        scale = min(scale, max_side / max(width, height))
    if max_pixels:
        scale = min(scale, math.sqrt(max_pixels / (width * height)))
    if scale >= 1.0:
        return width, height
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    return w, h


def encode_jpeg(
    image: np.ndarray, max_side: int | None = None, max_pixels: int | None = None, quality: int = JPEG_QUALITY
) -> EncodedImage:
    """``image`` ((height, width, 3) uint8 RGB) resized by ``fit_size`` and encoded as JPEG."""
    from PIL import Image

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (height, width, 3) uint8 RGB image, got shape {image.shape} {image.dtype}")
    pil = Image.fromarray(image)
    size = fit_size(pil.width, pil.height, max_side, max_pixels)
    if size != (pil.width, pil.height):
        pil = pil.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=quality)
    return EncodedImage(base64.b64encode(buf.getvalue()).decode("ascii"), pil.width, pil.height)
