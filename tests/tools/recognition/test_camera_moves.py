"""Camera moves cut from real frames: the window moves as the label says, and so does the scene
in the clip (the other way for pans)."""

from __future__ import annotations

import numpy as np
import pytest

from tools.recognition.camera_moves import CLASSES, camera_clip, window_path


@pytest.mark.parametrize("label", CLASSES)
def test_windows_stay_inside_the_frame_and_move_as_labelled(label):
    for seed in range(20):
        w = window_path(label, np.random.default_rng(seed), 768, 576, 17)
        assert w.shape == (17, 4) and np.all(w[:, :2] >= -1e-9)
        assert np.all(w[:, 0] + w[:, 2] <= 768 + 1e-9) and np.all(w[:, 1] + w[:, 3] <= 576 + 1e-9)
        dx, grow = w[-1, 0] - w[0, 0], w[-1, 2] / w[0, 2]
        if label.startswith("pan"):
            assert grow == 1 and abs(dx) >= 0.35 * w[0, 2] - 1e-9 and (dx > 0) == (label == "pan_right")
        else:
            assert (grow < 0.75) if label == "zoom_in" else (grow > 1 / 0.75)


def _shift(a: np.ndarray, b: np.ndarray) -> float:
    """Horizontal displacement (pixels) of b's content relative to a's, by phase correlation."""
    fa, fb = np.fft.fft2(a.mean(2)), np.fft.fft2(b.mean(2))
    r = np.abs(np.fft.ifft2(fb * np.conj(fa) / (np.abs(fb * np.conj(fa)) + 1e-9)))
    dx = np.unravel_index(np.argmax(r), r.shape)[1]
    return dx - a.shape[1] if dx > a.shape[1] // 2 else dx


@pytest.mark.parametrize("label, sign", [("pan_right", -1), ("pan_left", 1)])
def test_the_scene_slides_against_the_pan(label, sign):
    """Over a real photograph (scikit-image's coffee) held still: panning right moves the
    picture's content left between consecutive frames, and the reverse."""
    from skimage import data

    photo = data.coffee()  # (400, 600, 3)
    frames = np.repeat(photo[None], 17, axis=0)
    clip, windows = camera_clip(frames, label, np.random.default_rng(3), 128)
    step = (windows[1, 0] - windows[0, 0]) * 128 / windows[0, 2]  # window step in output pixels
    shift = _shift(clip[0], clip[1])
    assert np.sign(shift) == sign and abs(shift - (-step)) <= 1.0
