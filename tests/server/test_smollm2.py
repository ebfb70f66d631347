"""``vidagent serve`` with a real planner model: SmolLM2-135M under llama.cpp, started once
with the server and kept for every question (the second question starts no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.server.conftest import read_events, start_server

pytestmark = pytest.mark.slow

CONFIG = """
[planner]
kind = "openai"
dialect = "llamacpp"
mode = "json"
prompt = "compact"
max_tokens = 256
timeout_s = 300
max_retries = 1

[local_llm]
model = "smollm2-135m"
n_ctx = 4096

[tools]
profile = "core"

[budgets]
max_steps = 2
max_tool_calls = 4
max_seconds = 240
"""


def children(pid: int) -> set[int]:
    """Direct child processes of ``pid`` (Linux /proc)."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out |= {int(p) for p in text}
    return out


def test_smollm2_planner_is_loaded_once_and_answers_through_the_api(tmp_path, video_root, served_list):
    config = tmp_path / "smollm2.toml"
    config.write_text(CONFIG)
    served = start_server(tmp_path, "--video-root", str(video_root), "--config", str(config), startup_timeout_s=240)
    served_list.append(served)
    assert served.client.get("/api/info").json()["planner"] == "local llama.cpp: smollm2-135m"
    model_servers = children(served.process.pid)
    assert len(model_servers) == 1, "llama.cpp should be running before the first question"

    video_id = served.client.post("/api/videos/path", json={"path": "bikes.mp4"}).json()["id"]
    for question in ("How many shots does the video have?", "What is the dominant colour of the video?"):
        run = served.client.post("/api/runs", json={"video_id": video_id, "question": question})
        assert run.status_code == 202, run.text
        events = read_events(served.client, run.json()["id"], timeout_s=400)
        plans = [data for kind, data in events if kind == "plan"]
        assert plans and all(p["prompt_tokens"] > 0 and p["completion_tokens"] > 0 for p in plans), plans
        done = served.client.get(f"/api/runs/{run.json()['id']}").json()
        assert done["state"] == "finished"
        assert done["answer"]["status"] in {"answered", "unparsed", "budget_exhausted"}, done["answer"]["error"]
        assert done["answer"]["trace"]["planner"]  # the model's name as the endpoint reports it
    assert children(served.process.pid) == model_servers  # the same llama.cpp process served both
