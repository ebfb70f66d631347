"""A pipeline as an evaluation uses it: the pipeline TOML (``agent.config.AgentConfig``) and its
hash. The planner each sample gets comes from ``agent.planner_source.PlannerSource``.

Paths inside the pipeline file: ``script`` (the scripted planner's JSON list of actions) and
``[data] dir`` (the benchmark data root) are resolved against the pipeline file's folder when
relative, so a pipeline and its files can be moved together and a run reproduced from
anywhere. ``[cache] dir`` is resolved against the working directory, like ``vidagent ask`` does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from agent.config import AgentConfig
from agent.planner_source import import_factory


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Pipeline:
    """One pipeline file, loaded and validated.

    ``planner_factory``: optional ``"module:function"``; the function takes no arguments and
    returns a Planner, which then replaces the ``[planner]`` section. For planners written in
    Python (tests, experiments); it must be importable in worker processes.
    """

    path: Path
    config: AgentConfig
    sha256: str
    planner_factory: str | None = None

    @classmethod
    def load(cls, path: str | Path, planner_factory: str | None = None) -> "Pipeline":
        path = Path(path).resolve()
        config = AgentConfig.load(path)
        if config.script:
            script = Path(config.script).expanduser()
            if not script.is_absolute():
                script = (path.parent / script).resolve()
            config = config.model_copy(update={"script": str(script)})
        if config.data.dir:
            data_dir = Path(config.data.dir).expanduser()
            if not data_dir.is_absolute():
                config = config.model_copy(update={"data": config.data.model_copy(
                    update={"dir": str((path.parent / data_dir).resolve())})})
        if planner_factory is not None:
            import_factory(planner_factory)  # fail now, in the parent, not in every worker
        return cls(path=path, config=config, sha256=sha256_file(path), planner_factory=planner_factory)

    @property
    def name(self) -> str:
        return self.config.name or self.path.stem

    def cache_path(self) -> Path | None:
        """The result-cache file the workers share (SQLite), or None when caching is off."""
        from tools.cache import DB_FILENAME, ResultCache

        cache = self.config.cache
        if not cache.enabled:
            return None
        if cache.dir:
            return (Path(cache.dir).expanduser().resolve()) / DB_FILENAME
        return ResultCache.default().path.resolve()
