"""`vidagent planner start|status|stop`: one llama.cpp server kept up between commands (SmolLM2)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from agent.resident_planner import process_alive
from tests.agent.test_cli import run

pytestmark = pytest.mark.slow

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "lite-smollm2.toml"


@pytest.fixture
def config(tmp_path) -> Path:
    """The SmolLM2 pipeline with core tools and one short step (the test is about the server)."""
    text = (PIPELINE.read_text().replace('profile = "lite"', 'profile = "core"')
            .replace("max_steps = 4", "max_steps = 1").replace("max_tokens = 384", "max_tokens = 64")
            .replace("min_tool_steps = 1", "min_tool_steps = 0"))
    path = tmp_path / "smollm2-core.toml"
    path.write_text(text)
    return path


def test_a_resident_server_serves_later_commands_until_stopped(config, bikes_mp4, tmp_path):
    cache = tmp_path / "cache"
    assert run("planner", "status", cache_dir=cache).stdout.strip() == "no planner server running"
    started = run("planner", "start", "--config", config, cache_dir=cache)
    assert started.returncode == 0, started.stderr
    record = json.loads((cache / "planner-server.json").read_text())
    try:
        assert "planner server running: pid" in run("planner", "status", cache_dir=cache).stdout
        again = run("planner", "start", "--config", config, cache_dir=cache)  # the same server, not a second
        assert again.returncode == 0 and f"pid {record['pid']}" in again.stdout

        log = Path(record["log_path"])
        before = log.read_text().count("/v1/chat/completions")
        asked = run("ask", bikes_mp4, "How many shots are there?", "--config", config, "--json", cache_dir=cache)
        assert asked.returncode == 0, asked.stderr
        assert json.loads(asked.stdout)["trace"]["steps"], asked.stdout
        assert log.read_text().count("/v1/chat/completions") > before  # the ask was planned by it

        shorter = tmp_path / "short.toml"
        shorter.write_text(config.read_text().replace("n_ctx = 4096", "n_ctx = 2048"))
        other = run("planner", "start", "--config", shorter, cache_dir=cache)  # other settings: refused
        assert other.returncode == 2 and "another planner server runs" in other.stderr

        os.kill(record["pid"], signal.SIGSTOP)  # a server that does not answer (as when busy) is still stopped
        assert "running (busy: not answering" in run("planner", "status", cache_dir=cache).stdout
    finally:
        stopped = run("planner", "stop", cache_dir=cache)
    assert stopped.stdout.strip() == f"stopped planner server pid {record['pid']}"
    assert not (cache / "planner-server.json").exists()
    assert not process_alive(record["pid"])
    assert run("planner", "stop", cache_dir=cache).stdout.strip() == "no planner server was running"


def test_a_stale_record_is_dropped(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = {"pid": 2 ** 22 + 7, "port": 9, "model_path": "/x.gguf", "n_ctx": 4096, "n_threads": 1,
             "log_path": "/x.log", "started_at": 0.0}
    (cache / "planner-server.json").write_text(json.dumps(stale))
    assert run("planner", "status", cache_dir=cache).stdout.strip() == "no planner server running"
    assert not (cache / "planner-server.json").exists()
