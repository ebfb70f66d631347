"""Full-tier fixtures: the tiny random-initialised models (tiny_models.py) and a full toolset
configured to load them through ``[tools] weights``, as a user points vidagent at a checkpoint."""

from __future__ import annotations

import pytest

from tests.tools.backends.full.tiny_models import tiny_weights
from tools.cache import ResultCache
from tools.model_loading import ModelLoader
from tools.runner import ToolRunner
from tools.toolset import ToolsConfig, build_toolset
from tools.video import VideoReader


@pytest.fixture(scope="session")
def tiny():
    """Model name -> Weights.path of the tiny models (built once per session)."""
    return tiny_weights()


@pytest.fixture(scope="session")
def full_config(tiny) -> ToolsConfig:
    """The ``[tools]`` section a user writes, pointing each full-tier model at a local checkpoint."""
    return ToolsConfig(profile="full", weights={name: w.ref for name, w in tiny.items()})


@pytest.fixture(scope="module")
def reader(bikes_mp4):
    with VideoReader.open(bikes_mp4) as r:
        yield r


@pytest.fixture(scope="module")
def loader():
    """One model loader per test module, so its models are built once there."""
    return ModelLoader()


@pytest.fixture
def runner(full_config, reader, loader, tmp_path):
    """The full profile's tools over bikes.mp4 with a fresh result cache."""
    return ToolRunner(build_toolset(full_config), reader, cache=ResultCache(tmp_path / "c.sqlite"), timeout_s=900,
                      models=loader)
