"""The vidagent command as a user runs it: a real process, its stdout, stderr and exit code."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.videos import truncate, write_text_file

VIDAGENT = [sys.executable, "-m", "agent.cli"]


def run(*args, env=None, cache_dir=None):
    env = {**os.environ, **(env or {})}
    if cache_dir is not None:
        env["VIDAGENT_CACHE_DIR"] = str(cache_dir)
    return subprocess.run([*VIDAGENT, *map(str, args)], capture_output=True, text=True, env=env, timeout=120)


def test_info_json_on_real_footage(bikes_mp4, tmp_path):
    p = run("info", bikes_mp4, "--json", cache_dir=tmp_path)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert (info["n_frames"], info["fps"], info["width"], info["height"]) == (250, 25.0, 640, 272)
    assert info["codec"] == "h264" and len(info["sha256"]) == 64 and info["duration_s"] == pytest.approx(10.0)
    assert [round(t, 1) for t in info["cut_times_s"]] == pytest.approx([1.2, 3.0, 5.5, 7.5, 9.7], abs=0.15)
    assert len(info["shots"]) == 6


def test_info_human_readable(bikes_mp4, tmp_path):
    p = run("info", bikes_mp4, cache_dir=tmp_path)
    assert p.returncode == 0 and "cuts (s)" in p.stdout and "h264" in p.stdout


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "truncated"])
def test_bad_video_exits_2_with_one_line_and_writes_no_cache(kind, bikes_mp4, tmp_path):
    path = tmp_path / "clip.mp4"
    if kind == "text":
        write_text_file(path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        truncate(bikes_mp4, path, 0.5)
    cache_dir = tmp_path / "cache"
    for args in (["info", path], ["ask", path, "what happens?", "--script", tmp_path / "none.json"]):
        p = run(*args, cache_dir=cache_dir)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vidagent: ") and "Traceback" not in p.stderr
        assert str(path) in lines[0]
    assert not (cache_dir / "results.sqlite").exists() or _rows(cache_dir) == 0


def _rows(cache_dir: Path) -> int:
    import sqlite3

    with sqlite3.connect(cache_dir / "results.sqlite") as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        return sum(db.execute(f"select count(*) from {t}").fetchone()[0] for t in tables)


def test_tools_list_json_has_schemas():
    p = run("tools", "list", "--json")
    assert p.returncode == 0, p.stderr
    tools = {t["name"]: t for t in json.loads(p.stdout)}
    assert tools["detect_shots"]["parameters"]["type"] == "object"
    assert "span" in tools["detect_shots"]["parameters"]["properties"]
    assert tools["detect_shots"]["description"]


def test_ask_with_script_json_output(bikes_mp4, tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([
        {"action": "call_tools", "calls": [{"name": "detect_shots", "args": {}}]},
        {"action": "answer", "answer": "six", "evidence": [{"time_s": 1.2, "note": "first cut"}]},
    ]))
    trace = tmp_path / "trace.jsonl"
    p = run("ask", bikes_mp4, "How many shots?", "--option", "five", "--option", "six", "--script", script,
            "--json", "--trace", trace, cache_dir=tmp_path / "c")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)  # stdout holds exactly one JSON object
    assert out["status"] == "answered" and out["choice"] == 1 and out["answer"] == "six"
    assert out["evidence"] == [{"time_s": 1.2, "frame_index": 30, "box": None, "note": "first cut"}]
    assert out["trace"]["totals"]["tool_calls"] == 1 and out["trace"]["totals"]["frames_decoded"] > 0
    assert len(trace.read_text().splitlines()) == 3

    again = run("ask", bikes_mp4, "How many shots?", "--option", "five", "--option", "six", "--script", script,
                "--json", cache_dir=tmp_path / "c")
    assert json.loads(again.stdout)["trace"]["totals"]["cache_hits"] == 1


def test_ask_with_program_planning(bikes_mp4, tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([
        {"action": "program", "thought": "cuts", "program": "shots = detect_shots()\nprint(len(shots['shots']))"},
        {"action": "answer", "answer": "six"},
    ]))
    p = run("ask", bikes_mp4, "How many shots?", "--script", script, "--planning", "program", "--json",
            cache_dir=tmp_path / "c")
    assert p.returncode == 0, p.stderr
    steps = json.loads(p.stdout)["trace"]["steps"]
    assert [(s["kind"], s["action"]) for s in steps] == [("program", "program"), ("plan", "answer")]
    assert [c["name"] for c in steps[0]["tool_calls"]] == ["detect_shots"]

    bad = run("ask", bikes_mp4, "How many shots?", "--script", script, "--planning", "program", "--mode", "tools",
              cache_dir=tmp_path / "c")
    assert bad.returncode != 0 and "planning style 'program' needs the planner's mode 'json'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_vision_flags_send_frames_to_the_planner_and_the_trace_counts_them(bikes_mp4, tmp_path):
    """--vision --max-images 2 against an endpoint nobody listens on: the first step's request
    carried two evenly spaced frames (recorded before it was sent), and the refusal is one line."""
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = run("ask", bikes_mp4, "What colour is the taxi?", "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "vlm",
            "--vision", "--max-images", "2", "--profile", "core", "--json", cache_dir=tmp_path / "c")
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["status"] == "error" and "\n" not in out["error"]
    (step,) = out["trace"]["steps"]
    assert step["action"] == "planner_error"
    assert step["images"] == 2 and step["image_frames"] == [62, 187]  # centres of the two halves of 250 frames
    assert step["image_pixels"] == 2 * 640 * 272  # under the default 768-pixel side: sent as decoded
    assert out["trace"]["totals"]["images"] == 2

    blind = run("ask", bikes_mp4, "What colour is the taxi?", "--vision", cache_dir=tmp_path / "c")
    assert blind.returncode != 0 and "the embedded planner (qwen2.5-coder-1.5b) reads text only" in blind.stderr
    assert len(blind.stderr.strip().splitlines()) == 1


def test_several_questions_share_one_planner_and_the_tool_cache(bikes_mp4, tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([
        {"action": "call_tools", "calls": [{"name": "detect_shots", "args": {}}]},
        {"action": "answer", "answer": "six shots"},
    ]))
    p = run("ask", bikes_mp4, "How many shots?", "-q", "How many cuts?", "--script", script, "--json",
            cache_dir=tmp_path / "c")
    assert p.returncode == 0, p.stderr
    first, second = (json.loads(line) for line in p.stdout.splitlines())  # JSON Lines, one per question
    assert first["trace"]["question"] == "How many shots?" and second["trace"]["question"] == "How many cuts?"
    assert first["trace"]["totals"]["cache_hits"] == 0 and second["trace"]["totals"]["cache_hits"] == 1
    assert second["trace"]["totals"]["frames_decoded"] == 0
    text = run("ask", bikes_mp4, "How many shots?", "-q", "How many cuts?", "--script", script, cache_dir=tmp_path / "c")
    assert text.stdout.count("answer: six shots") == 2 and "question: How many cuts?" in text.stdout
    mixed = run("ask", bikes_mp4, "q1", "-q", "q2", "--option", "a", "--option", "b", "--script", script)
    assert mixed.returncode == 2 and "one multiple-choice question" in mixed.stderr


def test_ask_unparsed_is_reported_not_guessed(bikes_mp4, tmp_path):
    script = tmp_path / "bad.json"
    script.write_text(json.dumps(["I think it is B", "{\"answer\": 1}"]))
    p = run("ask", bikes_mp4, "q?", "--option", "a", "--option", "b", "--script", script, "--json", cache_dir=tmp_path)
    assert p.returncode == 0
    out = json.loads(p.stdout)
    assert out["status"] == "unparsed" and out["choice"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", "{video}", "q", "--config", "{missing}"], "config file not found"),
        (["ask", "{video}", "q", "--script", "{video}"], "not valid JSON"),
        (["ask", "{video}", "q", "--base-url", "http://127.0.0.1:9/v1", "--profile", "huge"], "unknown tool profile"),
        (["frobnicate"], "No such command"),
        (["ask", "{video}", "q", "--option", "only-one", "--base-url", "http://127.0.0.1:9/v1"], "at least two options"),
    ],
)
def test_usage_errors_exit_2(args, message, bikes_mp4, tmp_path):
    args = [a.format(video=bikes_mp4, missing=tmp_path / "nope.toml") for a in args]
    p = run(*args, cache_dir=tmp_path)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert message in p.stderr and "Traceback" not in p.stderr


def test_unreachable_planner_exits_1(bikes_mp4, tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text('[planner]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\nmax_retries = 0\ntimeout_s = 2\n')
    p = run("ask", bikes_mp4, "q", "--config", cfg, cache_dir=tmp_path)
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr


def test_cache_info_and_clear(bikes_mp4, tmp_path):
    run("info", bikes_mp4, cache_dir=tmp_path)
    info = json.loads(run("cache", "info", "--json", cache_dir=tmp_path).stdout)
    assert info["rows"] == 1
    p = run("cache", "clear", cache_dir=tmp_path)
    assert p.returncode == 0 and "removed 1" in p.stdout
    assert json.loads(run("cache", "info", "--json", cache_dir=tmp_path).stdout)["rows"] == 0


def test_console_script_is_installed():
    exe = shutil.which("vidagent", path=str(Path(sys.executable).parent))
    assert exe, "the vidagent console script is missing: pip install -e ."
    p = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "ask" in p.stdout


def test_a_plugin_package_adds_a_tool(tmp_path):
    """A user's package adds a tool through the vidagent.tools entry point, no edit to vidagent."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "my_vidagent_plugin.py").write_text(
        "from pydantic import BaseModel, Field\n"
        "from tools.capabilities import Capability\n"
        "from tools.registry import backend\n"
        "from tools.types import ToolOutput\n"
        "class Args(BaseModel):\n"
        "    word: str = Field(description='a word')\n"
        "SHOUT = Capability(name='shout', args=Args, result=None, description='Say the word loudly.')\n"
        "@backend(SHOUT, name='upper', profiles=('core',))\n"
        "def shout(args: Args, ctx) -> ToolOutput:\n"
        "    return ToolOutput(observation=args.word.upper())\n"
    )
    dist = site / "my_vidagent_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-vidagent-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[vidagent.tools]\nshout = my_vidagent_plugin\n")
    p = run("tools", "list", "--json", env={"PYTHONPATH": str(site)})
    assert p.returncode == 0, p.stderr
    tools = {t["name"]: t for t in json.loads(p.stdout)}
    assert tools["shout"]["description"] == "Say the word loudly."
    assert tools["shout"]["parameters"]["required"] == ["word"]
