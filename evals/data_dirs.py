"""Where a suite's data lives on the user's machine: its annotation files and its videos.

vidagent ships no benchmark data (only its own ``smoke`` questions). A suite reads its files
from one folder, the suite's *data folder*; its videos are looked up under ``--videos DIR``,
else under ``<data folder>/videos``. The data folder is, first match wins:

1. ``--data DIR`` of ``vidagent eval run`` (``annotations_dir=`` in Python): the folder itself;
2. ``$VIDAGENT_DATA_DIR/<suite folder>``;
3. ``<[data] dir of the pipeline file>/<suite folder>`` (a relative ``dir`` is read from the
   pipeline file's folder);
4. ``<user data dir>/benchmarks/<suite folder>``, the user data directory being platformdirs'
   for "vidagent" (``~/.local/share/vidagent`` on Linux).

``<suite folder>`` is the suite's ``annotations_subdir`` (``nextqa``, ``mot``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

from tools.errors import InputError

DATA_DIR_ENV = "VIDAGENT_DATA_DIR"
VIDEOS_SUBDIR = "videos"


def data_root(configured: str | Path | None = None) -> Path:
    """The folder that holds one data folder per suite: ``$VIDAGENT_DATA_DIR``, else
    ``configured`` (a pipeline's ``[data] dir``), else ``<user data dir>/benchmarks``."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("vidagent", appauthor=False)) / "benchmarks"


class MissingDataError(InputError):
    """A suite's data file or folder is not where vidagent looked. The message (one line) names
    the path and the ways to point vidagent at the data."""

    def __init__(self, suite: str, subdir: str, path: Path, what: str = "annotation file"):
        self.path = path
        super().__init__(
            f"{suite}: {what} {path} not found; pass --data DIR (the folder that holds the suite's files), "
            f"or set ${DATA_DIR_ENV} or the pipeline's [data] dir to a folder with a {subdir}/ subfolder"
        )
