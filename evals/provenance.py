"""What a run's ``manifest.json`` says: the code, pipeline, models, suite, arguments and
machine, so that a score can be traced to exactly what produced it.

Model identities: a scripted planner is identified by its script file's sha256, a model that
vidagent serves itself (``[local_llm]``) by its .gguf file's sha256, a served planner by the
model name its server reports on ``GET {base_url}/models`` (or the configured name when the
server cannot be asked). Tools are identified by capability, backend and
version (the version is part of the result-cache key).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evals.pipeline import Pipeline, sha256_file

MANIFEST_FORMAT = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MachineInfo(_Model):
    hostname: str
    platform: str
    machine: str
    python: str
    cpu_count: int | None
    memory_bytes: int | None = Field(description="physical memory, bytes")


class ModelIdentity(_Model):
    """``kind``: ``file`` (identified by ``sha256``), ``served`` (by the served model ``name``)."""

    role: str
    kind: Literal["file", "served"]
    name: str
    path: str | None = None
    sha256: str | None = None
    base_url: str | None = None


class ToolIdentity(_Model):
    name: str
    backend: str
    version: str


class PipelineInfo(_Model):
    name: str
    source_path: str
    copy_file: str = Field(description="file name of the copy inside the run directory")
    sha256: str
    planner_factory: str | None = None


class SuiteInfo(_Model):
    name: str
    kind: Literal["qa", "tracking"] = "qa"
    class_path: str
    description: str = ""
    annotations_dir: str = ""
    qtype_groups: dict[str, str] = Field(default_factory=dict)
    qtype_names: dict[str, str] = Field(default_factory=dict)
    n_samples: int = Field(description="samples (tracking: sequences) selected (after --limit) in the first session")


class Session(_Model):
    """One invocation that wrote to the run (the first one, then each ``--resume``)."""

    started_at: str
    args: dict[str, Any]
    pid: int
    repairs: list[str] = Field(default_factory=list)


class Manifest(_Model):
    format: int = MANIFEST_FORMAT
    vidagent_version: str
    git_commit: str | None
    git_dirty: bool | None
    started_at: str
    suite: SuiteInfo
    pipeline: PipelineInfo | None = Field(description="None when results files were scored (mode 'score')")
    models: list[ModelIdentity]
    tools: list[ToolIdentity]
    mode: Literal["run", "record", "replay", "score"]
    replay_of: str | None = None
    tracks_dir: str | None = Field(default=None, description="mode 'score': the folder of results files scored")
    cache_path: str | None = None
    args: dict[str, Any]
    machine: MachineInfo
    sessions: list[Session]


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def vidagent_version() -> str:
    try:
        return version("vidagent")
    except PackageNotFoundError:
        return "unknown"


def git_state(repo: Path | None = None) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout vidagent runs from; ``(None, None)`` outside git."""
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


def machine_info() -> MachineInfo:
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    return MachineInfo(
        hostname=socket.gethostname(), platform=platform.platform(), machine=platform.machine(),
        python=sys.version.split()[0], cpu_count=os.cpu_count(), memory_bytes=memory,
    )


def planner_identity(pipeline: Pipeline) -> ModelIdentity:
    config = pipeline.config
    if pipeline.planner_factory is not None:
        return ModelIdentity(role="planner", kind="served", name=f"python:{pipeline.planner_factory}")
    if config.planner.kind == "scripted":
        script = Path(config.script) if config.script else None
        return ModelIdentity(
            role="planner", kind="file", name=script.name if script else "",
            path=str(script) if script else None,
            sha256=sha256_file(script) if script and script.is_file() else None,
        )
    if config.local_llm is not None:  # a model file vidagent serves itself
        from agent.planner_source import local_model_path

        path = local_model_path(config.local_llm.model)
        return ModelIdentity(role="planner", kind="file", name=config.local_llm.model, path=str(path),
                             sha256=sha256_file(path))
    return ModelIdentity(role="planner", kind="served", name=_served_model_name(config.planner),
                         base_url=config.planner.base_url)


def _served_model_name(planner_config) -> str:
    """The configured model name, else the one(s) the server lists (short timeout)."""
    if planner_config.model:
        return planner_config.model
    try:
        import httpx

        headers = {}
        if planner_config.api_key_env and os.environ.get(planner_config.api_key_env):
            headers["Authorization"] = f"Bearer {os.environ[planner_config.api_key_env]}"
        reply = httpx.get(planner_config.base_url.rstrip("/") + "/models", headers=headers, timeout=5.0)
        reply.raise_for_status()
        names = [m.get("id", "") for m in reply.json().get("data", [])]
        return ", ".join(n for n in names if n) or "(server default)"
    except Exception:  # the server may start only with the workers
        return "(server default; not reachable when the run started)"


def tool_identities(pipeline: Pipeline) -> list[ToolIdentity]:
    from tools.toolset import build_toolset

    toolset = build_toolset(pipeline.config.tools)
    return [ToolIdentity(name=n, backend=b.backend, version=str(b.version)) for n, b in sorted(toolset.backends.items())]
