"""A trained checkpoint answers through `recognize_action` in an agent run (scripted planner),
named in config as `[recognizers] NAME = "folder"`."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.full


@pytest.fixture(scope="module")
def checkpoint(tiny_dataset, tmp_path_factory):
    from tools.recognition.training import TrainConfig, train_recognizer

    root = tmp_path_factory.mktemp("rec")
    train_recognizer(TrainConfig(data=tiny_dataset, backbone="open_clip:vidagent-vit-tiny", method="temporal-head",
                                 out=root / "ckpt", frames=4, epochs=1, cache_dir=root / "features"))
    return root / "ckpt"


def test_the_agent_calls_a_trained_recogniser(checkpoint, tiny_dataset, tmp_path):
    from agent import VideoAgent
    from agent.config import AgentConfig
    from planners.scripted import ScriptedPlanner
    from tools.cache import ResultCache
    from tools.toolset import build_toolset

    (tmp_path / "run.toml").write_text(f'[tools]\nprofile = "core"\n\n[recognizers]\nmotions = "{checkpoint}"\n')
    config = AgentConfig.load(tmp_path / "run.toml")
    assert config.tools.recognizers == {"motions": str(checkpoint)}
    tools = build_toolset(config.tools)
    (spec,) = [s for s in tools.specs() if s.name == "recognize_action"]
    assert "motions: appearing, left_to_right, right_to_left" in spec.description
    script = [
        {"action": "call_tools", "thought": "which way does it move",
         "calls": [{"name": "recognize_action", "args": {"labels": ["left_to_right", "right_to_left"]}}]},
        {"action": "call_tools", "thought": "a label it does not know",
         "calls": [{"name": "recognize_action", "args": {"labels": ["waving"]}}]},
        {"action": "answer", "answer": "it moves"},
    ]
    cache = ResultCache(tmp_path / "results.sqlite")
    video = tiny_dataset / "left_to_right" / "000.mp4"
    answer = VideoAgent(planner=ScriptedPlanner(script), tools=tools, cache=cache).ask(video, "Which way?")
    first, second = (s.tool_calls[0] for s in answer.trace.steps[:2])
    assert first.status == "ok" and first.observation.startswith(
        f"recogniser motions scored 2 labels in 1 windows of {17 / 8:.2f} s over 0.00-{17 / 8:.2f} s; highest mean: ")
    assert second.status == "retry" and "appearing, left_to_right, right_to_left" in second.observation
    again = VideoAgent(planner=ScriptedPlanner(script[:1] + script[2:]), tools=tools, cache=cache).ask(video, "Again?")
    assert again.trace.totals.cache_hits == 1
    assert again.trace.steps[0].tool_calls[0].observation == first.observation


def test_a_missing_checkpoint_is_one_line(tmp_path):
    from tools.errors import ConfigError
    from tools.toolset import ToolsConfig, build_toolset

    with pytest.raises(ConfigError, match=r"^\[recognizers\] x: .*nope: not a recogniser checkpoint"):
        build_toolset(ToolsConfig(profile="core", recognizers={"x": str(tmp_path / "nope")}))
