"""A local planner server that stays up between commands, started and stopped by the user.

Each ``vidagent ask`` with the embedded default otherwise starts llama.cpp, evaluates the
system prompt and tool list (about 1,000 tokens, tens of seconds on 2 CPU cores) and stops
it again. ``vidagent planner start`` starts one llama.cpp server that outlives the command and
records it in ``planner-server.json`` beside the result cache; every later command whose
``[local_llm]`` matches it (same model file, context length and threads) uses it instead of
starting its own, and llama.cpp's prompt cache then serves the shared prefix from memory.
``vidagent planner stop`` ends it; ``vidagent planner status`` says whether it runs. Nothing
stops it by itself: its lifetime is the user's to decide.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict

from agent.config import LocalLLMConfig
from tools.errors import InputError

RECORD_NAME = "planner-server.json"


class ResidentServer(BaseModel):
    """What ``planner-server.json`` records of a running resident server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int
    port: int
    model_path: str
    n_ctx: int
    n_threads: int
    log_path: str
    started_at: float

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def serves(self, local: LocalLLMConfig, model_path: Path) -> bool:
        """Whether this server is the one ``local`` asks for."""
        from planners.servers.llamacpp import DEFAULT_N_THREADS

        return (Path(self.model_path) == model_path and self.n_ctx == local.n_ctx
                and self.n_threads == (local.n_threads or DEFAULT_N_THREADS))


def record_path() -> Path:
    """``$VIDAGENT_CACHE_DIR/planner-server.json``, else in the user's cache directory."""
    from tools.cache import ResultCache

    return ResultCache.default().path.parent / RECORD_NAME


def running() -> ResidentServer | None:
    """The recorded server if its process still runs (busy or not); a stale record is removed."""
    path = record_path()
    if not path.is_file():
        return None
    try:
        server = ResidentServer.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError:
        path.unlink(missing_ok=True)
        return None
    if not _is_llama_server(server.pid):
        path.unlink(missing_ok=True)
        return None
    return server


def answers(server: ResidentServer, timeout_s: float = 2.0) -> bool:
    """Whether the server answers its model list within ``timeout_s`` seconds."""
    try:
        with httpx.Client(timeout=timeout_s, trust_env=False) as client:
            return client.get(server.base_url + "/models").status_code == 200
    except httpx.HTTPError:
        return False


def find(local: LocalLLMConfig) -> ResidentServer | None:
    """The resident server that serves ``local``, if one runs."""
    from agent.planner_source import local_model_path

    server = running()
    if server is None or not server.serves(local, local_model_path(local.model)):
        return None
    return server if answers(server, timeout_s=10.0) else None


def start(local: LocalLLMConfig) -> ResidentServer:
    """Start a resident server for ``local`` (or return the one that already serves it).

    Raises InputError when another resident server (another model or settings) runs:
    stop it first, so two 2 GB models never share the machine by accident.
    """
    from agent.planner_source import local_model_path, prompt_state_options
    from planners.servers.llamacpp import DEFAULT_N_THREADS, LlamaCppServer

    path = local_model_path(local.model)
    current = running()
    if current is not None:
        if current.serves(local, path):
            return current
        raise InputError(f"another planner server runs (pid {current.pid}, {Path(current.model_path).name}); "
                            "stop it first: vidagent planner stop")
    n_threads = local.n_threads or DEFAULT_N_THREADS  # one core free: it outlives this command's load
    record = record_path()
    record.parent.mkdir(parents=True, exist_ok=True)
    server = LlamaCppServer(path, n_ctx=local.n_ctx, n_threads=n_threads, startup_timeout_s=local.startup_timeout_s,
                            log_path=record.parent / "planner-server.log", detached=True,
                            **prompt_state_options(local, path))
    server.start()
    resident = ResidentServer(pid=server.pid, port=server.port, model_path=str(path), n_ctx=local.n_ctx,
                              n_threads=n_threads, log_path=str(server.log_path), started_at=time.time())
    tmp = record.with_suffix(".tmp")
    tmp.write_text(resident.model_dump_json(indent=2), encoding="utf-8")
    tmp.replace(record)
    return resident


def stop(timeout_s: float = 10.0) -> ResidentServer | None:
    """Stop the resident server (SIGTERM to its process group, then SIGKILL), busy or not; None
    if none ran."""
    server = running()
    record_path().unlink(missing_ok=True)
    if server is None:
        return None
    _signal_group(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while process_alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_alive(server.pid):
        _signal_group(server.pid, signal.SIGKILL)
    return server


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not serving
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _is_llama_server(pid: int) -> bool:
    """Whether ``pid`` runs llama.cpp's server (not a stranger that reused a dead server's pid)."""
    if not process_alive(pid):
        return False
    from planners.servers.llamacpp import SERVER_COMMAND_MARKS

    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read()
        return any(mark in cmdline for mark in SERVER_COMMAND_MARKS)
    except OSError:
        return True  # no /proc: trust the live pid
