"""A session-wide real ``vllm serve`` (CPU build, SmolLM2-135M) for tests marked ``vllm``.

The vLLM environment is built by ``bash scripts/vllm_env.sh`` (once, ~4 min; a second run is
a no-op). When it is missing the tests FAIL with that command: a skipped vLLM test would look
like a passing one.

    from tests.planners.vllm_fixture import vllm_server  # noqa: F401 (fixture)
"""

from __future__ import annotations

import pytest

from planners.servers.vllm_cpu import VllmCpuServer, VllmEnvMissingError, require_vllm_env


@pytest.fixture(scope="module")  # only test_vllm_server.py uses it; an idle vLLM worker kept ~65% of a core busy for the rest of the run
def vllm_server():
    """A running VllmCpuServer; ``.base_url`` ends in /v1, ``.model_name`` is the served name."""
    try:
        require_vllm_env()
    except VllmEnvMissingError as exc:
        pytest.fail(str(exc), pytrace=False)
    with VllmCpuServer(startup_timeout_s=180) as server:
        yield server
