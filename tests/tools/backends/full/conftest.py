"""Full-tier fixtures: the tiny random-initialised models (tiny_models.py) and a full toolset
configured to load them through ``[tools] weights``, as a user points vidagent at a checkpoint."""

from __future__ import annotations

import pytest

from tests.tools.backends.full.tiny_models import tiny_weights
from tools.toolset import ToolsConfig


@pytest.fixture(scope="session")
def tiny():
    """Model name -> Weights.path of the tiny models (built once per session)."""
    return tiny_weights()


@pytest.fixture(scope="session")
def full_config(tiny) -> ToolsConfig:
    """The ``[tools]`` section a user writes, pointing each full-tier model at a local checkpoint."""
    return ToolsConfig(profile="full", weights={name: w.ref for name, w in tiny.items()})
