"""A real ``vidagent serve`` process on 127.0.0.1 (``python -m server``), its data directory
and an HTTP client for it."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from planners.servers.process import ManagedServer

REPO = Path(__file__).resolve().parents[2]

#: The TAXI question of the README, answered by a script that reads the text first.
TAXI_QUESTION = "What does the sign on the vehicle say, and at what time is it visible?"
TAXI_SCRIPT = [
    {"action": "call_tools", "thought": "the sign is text: read it where the vehicle is in view",
     "calls": [{"name": "read_text", "args": {"span": {"start_s": 2.4, "end_s": 3.2}, "fps": 5}}]},
    {"action": "answer", "thought": "the text read on the vehicle is the answer", "answer": "TAXI"},
]


@dataclass
class Served:
    """One running server: ``url`` (no trailing slash), ``data_dir``, ``client`` (httpx, with
    the token when the server has one)."""

    process: ManagedServer
    url: str
    data_dir: Path
    client: httpx.Client

    def uploads(self) -> list[Path]:
        return sorted((self.data_dir / "uploads").iterdir())

    def stop(self) -> None:
        self.client.close()
        self.process.stop()


def start_server(tmp_path: Path, *args: str, data_dir: Path | None = None, token: str | None = None,
                 script: list | None = None, profile: str = "core", env: dict[str, str] | None = None,
                 startup_timeout_s: float = 90.0) -> Served:
    """Start ``python -m server`` with ``args`` and wait for its health check."""
    data_dir = data_dir or tmp_path / "data"
    command = [sys.executable, "-m", "server", "--host", "{host}", "--port", "{port}", "--data-dir", str(data_dir),
               "--profile", profile, "--cache-dir", str(tmp_path / "cache"), *args]
    if script is not None and "--planner-factory" not in args:
        script_path = tmp_path / "script.json"
        script_path.write_text(json.dumps(script))
        command += ["--script", str(script_path)]
    env = {"PYTHONPATH": str(REPO), **(env or {})}
    if token:
        env["VIDAGENT_SERVE_TOKEN"] = token
    process = ManagedServer(command, name="vidagent-serve", health_path="/api/health",
                            startup_timeout_s=startup_timeout_s, env=env, run_dir_parent=tmp_path).start()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = httpx.Client(base_url=process.url, headers=headers, timeout=60.0, trust_env=False)
    return Served(process, process.url, data_dir, client)


@pytest.fixture
def video_root(tmp_path, bikes_mp4) -> Path:
    """An allowed root holding bikes.mp4, beside a directory that is not allowed."""
    root = tmp_path / "videos"
    root.mkdir()
    (root / "bikes.mp4").write_bytes(bikes_mp4.read_bytes())
    return root


def read_events(client: httpx.Client, run_id: str, timeout_s: float = 120.0) -> list[tuple[str, dict]]:
    """The run's server-sent events, read off the stream until ``end``: (type, data) pairs."""
    events: list[tuple[str, dict]] = []
    with client.stream("GET", f"/api/runs/{run_id}/events", timeout=timeout_s) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        kind, data = None, None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and kind is not None:
                events.append((kind, data))
                if kind == "end":
                    break
                kind, data = None, None
    return events


@pytest.fixture
def served_list() -> Iterator[list[Served]]:
    """Servers started by a test, stopped at its end whatever happens."""
    started: list[Served] = []
    yield started
    for served in started:
        served.stop()
