"""Colour naming: synthetic patches with known colours, and regions of real photos whose
colours were checked by eye (astronaut suit orange, helmet black, backdrop white; coffee
table wood brown, saucer red; chelsea's fur brown)."""

import numpy as np
import pytest

from tools.backends.core.colors import BASIC_COLORS, dominant_color, has_color, name_pixels, rgb_to_hsv


@pytest.mark.parametrize(
    "rgb, name",
    [
        ((200, 30, 30), "red"),
        ((120, 10, 15), "red"),  # dark but vivid: a red car in shade
        ((240, 130, 20), "orange"),
        ((230, 220, 40), "yellow"),
        ((40, 160, 60), "green"),
        ((30, 60, 200), "blue"),
        ((20, 30, 90), "blue"),  # navy
        ((120, 40, 160), "purple"),
        ((240, 150, 180), "pink"),
        ((120, 70, 30), "brown"),
        ((199, 125, 77), "brown"),  # light wood
        ((15, 15, 15), "black"),
        ((245, 245, 245), "white"),
        ((128, 128, 128), "gray"),
        ((190, 190, 195), "gray"),  # silver
    ],
)
def test_uniform_patch(rgb, name):
    patch = np.full((24, 32, 3), rgb, np.uint8)
    found = dominant_color(patch)
    assert found.name == name
    assert found.fraction == 1.0
    assert found.pixels == 16 * 22  # rows 4..19, columns 5..26: the central 70% x 70%


def test_hsv_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    px = np.random.default_rng(0).integers(0, 256, (4000, 1, 3), dtype=np.uint8)
    mine = rgb_to_hsv(px)[:, 0]
    ref = cv2.cvtColor(px, cv2.COLOR_RGB2HSV_FULL).astype(np.float64)[:, 0]
    hue_err = np.abs((mine[:, 0] - ref[:, 0] * 360 / 256 + 180) % 360 - 180)
    assert hue_err.max() < 1.5  # OpenCV's hue has 256 steps
    assert np.abs(mine[:, 1] * 255 - ref[:, 1]).max() <= 1
    assert np.abs(mine[:, 2] * 255 - ref[:, 2]).max() <= 0.5


def test_border_is_ignored():
    """A blue object on a wide white background: the box border band is background."""
    image = np.full((100, 100, 3), 255, np.uint8)
    image[30:70, 30:70] = (30, 60, 200)
    box = (10, 10, 90, 90)  # 20% of the box on each side is background
    assert dominant_color(image, box, border=0.0).name == "white"
    found = dominant_color(image, box, border=0.25)
    assert found.name == "blue" and found.fraction == 1.0


def test_fractions_and_has_color():
    image = np.zeros((10, 40, 3), np.uint8)
    image[:, :10] = (200, 30, 30)  # a quarter red, the rest black
    found = dominant_color(image, border=0.0)
    assert found.name == "black"
    assert found.fractions["red"] == pytest.approx(0.25)
    assert sum(found.fractions.values()) == pytest.approx(1.0)
    assert set(found.fractions) == set(BASIC_COLORS)
    assert has_color(image, None, "red", min_fraction=0.2, border=0.0)
    assert not has_color(image, None, "red", min_fraction=0.3, border=0.0)
    with pytest.raises(ValueError, match="unknown colour"):
        has_color(image, None, "turquoise")


def test_box_is_clipped_and_checked():
    image = np.full((50, 50, 3), (30, 60, 200), np.uint8)
    assert dominant_color(image, (-20, -20, 500, 500)).name == "blue"
    with pytest.raises(ValueError, match="no pixels"):
        dominant_color(image, (60, 60, 80, 80))
    with pytest.raises(ValueError, match="uint8"):
        dominant_color(image.astype(np.float32))


def test_name_pixels_shape():
    assert name_pixels(np.zeros((3, 4, 3), np.uint8)).shape == (3, 4)


@pytest.mark.parametrize(
    "image_name, box, name",
    [
        ("astronaut", (40, 300, 140, 480), "orange"),  # left part of the suit
        ("astronaut", (300, 360, 480, 500), "black"),  # helmet on the table
        ("astronaut", (300, 20, 360, 120), "white"),  # studio backdrop
        ("coffee", (460, 0, 600, 150), "brown"),  # wooden table
        ("coffee", (90, 200, 180, 330), "red"),  # saucer
        ("chelsea", (50, 30, 400, 250), "brown"),  # the cat's face
    ],
)
def test_real_regions(image_name, box, name):
    skimage_data = pytest.importorskip("skimage.data")
    image = getattr(skimage_data, image_name)()
    found = dominant_color(image, box)
    assert found.name == name, found.fractions
    assert found.fraction > 0.5
