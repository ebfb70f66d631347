"""Sizing frames within a side and pixel budget, and encoding them as JPEG."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tools.frame_images import encode_jpeg, fit_size


@pytest.mark.parametrize(
    ("size", "max_side", "max_pixels", "expected"),
    [
        ((640, 272), 320, None, (320, 136)),
        ((640, 272), None, 50176, (343, 146)),
        ((640, 272), 320, 20000, (216, 92)),   # the pixel cap is the tighter one
        ((640, 272), 1024, 10**6, (640, 272)),  # never enlarged
        ((272, 640), 320, None, (136, 320)),    # portrait: the longer side is the height
        ((5000, 1), 100, None, (100, 1)),       # never below one pixel
    ],
)
def test_fit_size_keeps_the_aspect_within_both_limits(size, max_side, max_pixels, expected):
    w, h = fit_size(*size, max_side=max_side, max_pixels=max_pixels)
    assert (w, h) == expected
    if max_side:
        assert max(w, h) <= max_side
    if max_pixels:
        assert w * h <= max_pixels


def test_fit_size_refuses_an_empty_image():
    with pytest.raises(ValueError, match="positive size"):
        fit_size(0, 10, 100)


def test_encode_jpeg_resizes_and_round_trips():
    image = np.zeros((272, 640, 3), np.uint8)
    image[:, 320:] = (200, 40, 40)
    encoded = encode_jpeg(image, max_side=320, max_pixels=20000)
    assert (encoded.width, encoded.height) == (216, 92) and encoded.pixels == 216 * 92
    assert encoded.data_url.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(encoded.jpeg_b64))) as img:
        assert img.format == "JPEG" and img.size == (216, 92)
        right = np.asarray(img.convert("RGB"))[:, 150:]
    assert abs(int(right[..., 0].mean()) - 200) < 15  # the red half stays on the right


def test_encode_jpeg_refuses_what_is_not_an_rgb_frame():
    with pytest.raises(ValueError, match="uint8 RGB"):
        encode_jpeg(np.zeros((10, 10), np.uint8))
