"""VideoAgent's ``on_step`` hook: each trace step is reported when the planner has replied and
again when its tool calls have run (what ``vidagent serve`` streams)."""

from __future__ import annotations

from agent.video_agent import VideoAgent
from planners.scripted import ScriptedPlanner
from tests.videos import make_video


def test_steps_are_reported_as_they_fill(tmp_path):
    clip = make_video(tmp_path / "clip.mp4", cuts=(12,))
    seen: list[tuple[int, str, str, int]] = []
    script = [
        {"action": "call_tools", "thought": "cuts", "calls": [{"name": "detect_shots", "args": {}}]},
        "not json",
        {"action": "answer", "thought": "two", "answer": "two shots"},
    ]
    agent = VideoAgent(planner=ScriptedPlanner(script), tools="core", cache=None,
                       on_step=lambda step, phase: seen.append((step.index, phase, step.action, len(step.tool_calls))))
    answer = agent.ask(clip, "How many shots?")
    assert answer.status == "answered"
    assert seen == [(0, "planned", "call_tools", 0), (0, "acted", "call_tools", 1),
                    (1, "planned", "invalid", 0), (2, "planned", "answer", 0)]
    assert [s.index for s in answer.trace.steps] == [0, 1, 2]
