"""Tiny generated clip datasets, written once per session as real .mp4 files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.recognition.synthetic import write_dataset

#: Two time-reversed classes and one more: enough for every code path, small enough for seconds.
TINY_CLASSES = ("left_to_right", "right_to_left", "appearing")


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """3 classes x 4 clips of 16 frames, 64 x 64 pixels, 8 fps."""
    return write_dataset(tmp_path_factory.mktemp("temporal") / "data", clips_per_class=4, size=64,
                         classes=TINY_CLASSES, seed=1)
