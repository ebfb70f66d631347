"""Run a local HTTP server as a child process group, wait until it answers, stop it for sure.

``ManagedServer`` is generic: give it a command (with ``{host}``, ``{port}`` and ``{run_dir}``
placeholders), a health path and a deadline. It

- picks a free port on 127.0.0.1 (servers here never listen on other interfaces),
- makes a per-run directory with ``tmp/`` and ``cache/`` (TMPDIR points at ``tmp/``),
- starts the command in its own session / process group, stdout and stderr to a log file,
- polls ``http://127.0.0.1:<port><health_path>`` until HTTP 200, failing early with the tail
  of the log if the process exits, or when the deadline passes,
- on ``stop()`` (and on leaving the ``with`` block, whatever the exception, KeyboardInterrupt
  included) sends SIGTERM to the whole group, then SIGKILL after ``stop_timeout_s``.

>>> with ManagedServer(["python", "-m", "http.server", "{port}", "--bind", "{host}"],
...                    name="demo", health_path="/") as server:      # doctest: +SKIP
...     httpx.get(server.url + "/")
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Mapping, Sequence

import httpx

from tools.errors import VidagentError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
HEALTH_POLL_S = 0.25
LOG_TAIL_LINES = 30


class ServerStartError(VidagentError):
    """A managed server did not become healthy. The message ends with the tail of its log."""

    def __init__(self, name: str, reason: str, log_path: Path | None, log_tail: str):
        self.name = name
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail
        where = f" (log: {log_path})" if log_path else ""
        tail = f"\n--- last lines of the log ---\n{log_tail}" if log_tail.strip() else ""
        super().__init__(f"{name} server {reason}{where}{tail}")


def free_port(host: str = HOST) -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = HOST) -> bool:
    """True if nothing listens on ``host:port`` (a connect attempt is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) != 0


def die_with_parent() -> None:
    """Get SIGTERM when the parent process dies (Linux prctl PR_SET_PDEATHSIG); call it in the
    child (before exec, or first thing in a worker process).

    Without it, a test runner killed with SIGKILL would leave the server running, since the
    server lives in its own session; and an eval worker would finish its sample (minutes with
    a model planner) for a parent that is gone.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


# Servers still running at interpreter exit are stopped (a forgotten stop() or a crash).
_running: "weakref.WeakSet[ManagedServer]" = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    for server in list(_running):
        server.stop()


class ManagedServer:
    """One server process group on 127.0.0.1, started and stopped by this object.

    ``command`` items may use ``{host}``, ``{port}``, ``{run_dir}``; ``env`` values may use
    ``{run_dir}`` too. ``port=None`` picks a free port (and retries twice with another one if
    the server reports the address in use). ``startup_timeout_s`` bounds the health wait in
    seconds; ``stop_timeout_s`` is the grace between SIGTERM and SIGKILL. ``log_path`` defaults
    to ``<run_dir>/server.log``. The run dir is removed at stop unless ``keep_run_dir``, or the
    server failed to start or died by itself (its log is then kept for reading).

    ``detached``: the server outlives this process (no stop at exit, no signal when this
    process dies, run dir kept); whoever starts it must record its pid to stop it later.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        name: str = "server",
        health_path: str = "/health",
        startup_timeout_s: float = 60.0,
        stop_timeout_s: float = 10.0,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        log_path: str | os.PathLike | None = None,
        run_dir_parent: str | os.PathLike | None = None,
        keep_run_dir: bool = False,
        detached: bool = False,
    ):
        self.command = list(command)
        self.name = name
        self.health_path = health_path
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.host = HOST
        self._fixed_port = port
        self.port: int | None = port
        self._env = dict(env or {})
        self._log_path_arg = Path(log_path) if log_path is not None else None
        self._run_dir_parent = run_dir_parent
        self.detached = detached
        self._keep_run_dir_asked = keep_run_dir or detached
        self.keep_run_dir = self._keep_run_dir_asked
        self.run_dir: Path | None = None
        self.log_path: Path | None = None
        self.process: subprocess.Popen | None = None
        self.start_seconds: float | None = None  # from spawn to healthy, in seconds
        self.stop_seconds: float | None = None  # from SIGTERM to the group gone, in seconds
        self._lock = threading.Lock()

    # -- public -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        if self.port is None:
            raise RuntimeError(f"{self.name} server is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "ManagedServer":
        """Start the server and wait until its health URL answers 200. Returns self.

        Raises ServerStartError (with the log tail) if it exits or misses the deadline; the
        process group is stopped before raising, also on KeyboardInterrupt.
        """
        if self.is_running():
            return self
        attempts = 1 if self._fixed_port is not None else 3
        for attempt in range(1, attempts + 1):
            try:
                self._spawn()
                self._wait_healthy()
                return self
            except ServerStartError as exc:
                self._stop_group()
                if attempt < attempts and "address already in use" in exc.log_tail.lower():
                    self.keep_run_dir = self._keep_run_dir_asked
                    continue  # the free port was taken between our probe and the server's bind
                raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the whole process group (SIGTERM, then SIGKILL) and remove the run dir."""
        self._stop_group()
        if self.run_dir is not None and not self.keep_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log ('' if there is none yet)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> "ManagedServer":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid} on {self.url}" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {self.name}: {state}>"

    # -- internals --------------------------------------------------------------------------

    def _spawn(self) -> None:
        self.start_seconds = None
        if self.run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix=f"vidagent-{self.name}-", dir=self._run_dir_parent))
            (self.run_dir / "tmp").mkdir()
            (self.run_dir / "cache").mkdir()
        self.log_path = self._log_path_arg or self.run_dir / "server.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.port = self._fixed_port if self._fixed_port is not None else free_port(self.host)
        fields = {"{host}": self.host, "{port}": str(self.port), "{run_dir}": str(self.run_dir)}
        argv = [_fill(part, fields) for part in self.command]
        env = dict(os.environ)
        env["TMPDIR"] = str(self.run_dir / "tmp")
        env.update({k: _fill(v, fields) for k, v in self._env.items()})
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            self._started_at = time.monotonic()
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.run_dir,
                start_new_session=True,  # own process group: stop() reaches every worker
                preexec_fn=None if self.detached else die_with_parent,
            )
        if not self.detached:
            _running.add(self)

    def _wait_healthy(self) -> None:
        deadline = self._started_at + self.startup_timeout_s
        health_url = self.url + self.health_path
        with httpx.Client(timeout=httpx.Timeout(2.0), trust_env=False) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise self._start_error(f"exited with code {code} before it was ready")
                try:
                    if client.get(health_url).status_code == 200:
                        self.start_seconds = time.monotonic() - self._started_at
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise self._start_error(
                        f"did not answer {health_url} within {self.startup_timeout_s:.0f} s"
                    )
                time.sleep(HEALTH_POLL_S)

    def _start_error(self, reason: str) -> ServerStartError:
        self.keep_run_dir = True  # keep the log for whoever reads the error
        return ServerStartError(self.name, reason, self.log_path, self.log_tail())

    def _stop_group(self) -> None:
        with self._lock:
            process, self.process = self.process, None
        if process is None:
            return
        _running.discard(self)
        code = process.poll()
        if code is not None and self.start_seconds is not None:
            # It died on its own after it was healthy: keep the log that says why.
            self.keep_run_dir = True
            log.warning("%s server (pid %d) had exited by itself with code %s; log: %s",
                        self.name, process.pid, code, self.log_path)
        pgid = process.pid  # start_new_session: the group id is the leader's pid
        started = time.monotonic()
        _signal_group(pgid, signal.SIGTERM)
        if not _wait_group_gone(process, pgid, self.stop_timeout_s):
            _signal_group(pgid, signal.SIGKILL)
            _wait_group_gone(process, pgid, 5.0)
        self.stop_seconds = time.monotonic() - started


def _fill(text: str, fields: Mapping[str, str]) -> str:
    """Replace the literal placeholders only (JSON arguments keep their braces)."""
    for placeholder, value in fields.items():
        text = text.replace(placeholder, value)
    return text


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in process group ``pgid``, read from /proc.

    Zombies are left out: an orphaned worker that exited may wait a while for its new parent
    to reap it, but it no longer runs or holds a port.
    """
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # Fields after the parenthesised command name: state ppid pgrp ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _group_alive(pgid: int) -> bool:
    if os.path.isdir("/proc/self"):
        return bool(group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_group_gone(process: subprocess.Popen, pgid: int, timeout_s: float) -> bool:
    """Reap the leader and wait until no process of the group is left; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
        if process.poll() is not None and not _group_alive(pgid):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
