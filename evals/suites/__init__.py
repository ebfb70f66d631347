"""Benchmark suites: the ``Suite`` contract, the registry, and the built-in adapters.

>>> from evals.suites import get_suite
>>> suite = get_suite("nextqa")          # doctest: +SKIP
>>> samples = suite.load(videos_dir, limit=50)  # doctest: +SKIP
>>> score = suite.score(samples[0], answer)     # doctest: +SKIP
"""

from evals.data_dirs import DATA_DIR_ENV, MissingDataError, data_root
from evals.suites.base import (
    ENTRY_POINT_GROUP,
    VIDEO_EXTENSIONS,
    Suite,
    SuiteBase,
    Verdict,
    VideoIndex,
    available_suites,
    get_suite,
    register_suite,
)

# Built-in suites register themselves on import.
from evals.suites import activitynet_qa, egoschema, folder_actions, mot, nextgqa, nextqa, smoke, tgif_qa  # noqa: E402  isort: skip

__all__ = [
    "activitynet_qa",
    "egoschema",
    "folder_actions",
    "mot",
    "nextgqa",
    "nextqa",
    "smoke",
    "tgif_qa",
    "DATA_DIR_ENV",
    "ENTRY_POINT_GROUP",
    "VIDEO_EXTENSIONS",
    "MissingDataError",
    "Suite",
    "SuiteBase",
    "Verdict",
    "VideoIndex",
    "available_suites",
    "data_root",
    "get_suite",
    "register_suite",
]
