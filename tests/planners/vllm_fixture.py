"""Real ``vllm serve`` processes (CPU build) for tests marked ``vllm``, one per test module.

``vllm_server``: SmolLM2-135M (text). ``vlm_server``: the tiny random Qwen2.5-VL, taking at most
``VLM_MAX_IMAGES`` images per prompt. The vLLM environment and both models are built by
``bash scripts/vllm_env.sh`` (once, minutes; a second run is a no-op). When it is missing the
tests FAIL with that command: a skipped vLLM test would look like a passing one. Each server
lives for the module that uses it, and a second one refuses to start while the first runs, so two
never compete for the cores. Startup on 2 cores another job keeps busy (load 7-10, nice 15):
SmolLM2 220 s, the tiny VLM 303-362 s; on idle cores 25-30 s and ~2.5 min. Most of it is Python
processes importing torch (the swapped env's CUDA build) and vLLM: the API server, the engine
core and its worker, and, until ``vllm-cache`` in the venv holds the result, a model-inspection
subprocess (~40 s); the VLM's API server also warms its image processor (~110 s under that load,
beside the engine's start).

    from tests.planners.vllm_fixture import vllm_server, vlm_server  # noqa: F401 (fixtures)
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from planners.servers.vllm_cpu import VllmCpuServer, VllmEnvMissingError, require_vllm_env, vlm_serve_args

#: The image limit the tiny VLM is served with (a request with more gets HTTP 400).
VLM_MAX_IMAGES = 4
VLM_MAX_MODEL_LEN = 8192
#: Seen here at a load average of 7-13: SmolLM2 healthy after 195-220 s, the tiny VLM after 303-370 s.
STARTUP_TIMEOUT_S = 600


#: The servers this process is running now: at most one (see ``_one_at_a_time``).
_RUNNING: list[VllmCpuServer] = []


@contextmanager
def _one_at_a_time(server: VllmCpuServer):
    """Run ``server`` for the duration, failing if another is still up: on 2 cores two servers
    starting side by side each take twice as long (module-scoped fixtures of consecutive
    modules do not overlap; this keeps it so)."""
    if _RUNNING:
        pytest.fail(f"a vLLM server is already running ({_RUNNING[0]!r}); tests may start one at a time", pytrace=False)
    with server:
        _RUNNING.append(server)
        try:
            yield server
        finally:
            _RUNNING.remove(server)


def _env():
    try:
        return require_vllm_env()
    except VllmEnvMissingError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def vllm_server():
    """A running VllmCpuServer; ``.base_url`` ends in /v1, ``.model_name`` is the served name."""
    _env()
    with _one_at_a_time(VllmCpuServer(startup_timeout_s=STARTUP_TIMEOUT_S)) as server:
        yield server


@pytest.fixture(scope="module")
def vlm_server():
    """The tiny Qwen2.5-VL behind ``vllm serve``, taking at most ``VLM_MAX_IMAGES`` images."""
    paths = _env()
    server = VllmCpuServer(paths.vlm_dir, max_model_len=VLM_MAX_MODEL_LEN, extra_args=vlm_serve_args(VLM_MAX_IMAGES),
                           startup_timeout_s=STARTUP_TIMEOUT_S)
    with _one_at_a_time(server) as server:
        yield server
