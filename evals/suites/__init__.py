"""Benchmark suites: the ``Suite`` contract, the registry, and the built-in adapters.

>>> from evals.suites import get_suite
>>> suite = get_suite("nextqa")          # doctest: +SKIP
>>> samples = suite.load(videos_dir, limit=50)  # doctest: +SKIP
>>> score = suite.score(samples[0], answer)     # doctest: +SKIP
"""

from evals.suites.base import (
    BENCHMARK_DATA_ENV,
    ENTRY_POINT_GROUP,
    VIDEO_EXTENSIONS,
    Suite,
    Verdict,
    VideoIndex,
    available_suites,
    benchmark_data_dir,
    get_suite,
    register_suite,
)

# Built-in suites register themselves on import.
from evals.suites import activitynet_qa, egoschema, nextgqa, nextqa, smoke, tgif_qa  # noqa: E402  isort: skip

__all__ = [
    "activitynet_qa",
    "egoschema",
    "nextgqa",
    "nextqa",
    "smoke",
    "tgif_qa",
    "BENCHMARK_DATA_ENV",
    "ENTRY_POINT_GROUP",
    "VIDEO_EXTENSIONS",
    "Suite",
    "Verdict",
    "VideoIndex",
    "available_suites",
    "benchmark_data_dir",
    "get_suite",
    "register_suite",
]
