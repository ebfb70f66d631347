"""PlannerSource: the one place that turns configuration into planners."""

from __future__ import annotations

import json

import pytest

from agent.config import AgentConfig
from agent.planner_source import PlannerSource, load_script, open_planner
from planners.base import CallTools
from planners.config import PlannerConfig
from planners.openai_compat import OpenAICompatiblePlanner
from planners.scripted import ScriptedPlanner
from tests.planners.chat_server import sample_request
from tools.errors import ConfigError
from tools.types import ToolCall

CALL = CallTools(thought="look", calls=(ToolCall(name="read_text", args={"time_s": 1.0}),))


def scripted_config(tmp_path, steps) -> AgentConfig:
    path = tmp_path / "steps.json"
    path.write_text(json.dumps(steps), encoding="utf-8")
    return AgentConfig(planner=PlannerConfig(kind="scripted", vision=True, max_images=3), script=str(path))


def test_a_scripted_planner_is_rebuilt_for_every_question(tmp_path):
    config = scripted_config(tmp_path, [CALL.model_dump(mode="json"), "not json"])
    with PlannerSource(config) as source:
        first, second = source.for_question(), source.for_question()
    assert isinstance(first, ScriptedPlanner) and first is not second
    assert first.vision_limits.max_images == 3 and first.name == "scripted:steps.json"
    assert first.plan(sample_request()).action.calls[0].name == "read_text"
    assert "not valid JSON" in first.plan(sample_request()).error
    assert second.plan(sample_request()).action == CALL  # its own copy of the script


def test_an_http_planner_is_shared_and_closed_with_the_source():
    config = AgentConfig(planner=PlannerConfig(base_url="http://127.0.0.1:9/v1"))
    source = PlannerSource(config)
    planner = source.for_question()
    assert isinstance(planner, OpenAICompatiblePlanner) and source.for_question() is planner
    source.close()
    assert planner._client.is_closed


def test_a_planner_factory_is_called_per_question():
    config = AgentConfig()
    with PlannerSource(config, "tests.evals.pipelines.tiny:question_keyed_planner") as source:
        assert source.for_question() is not source.for_question()


def test_open_planner_yields_one_planner(tmp_path):
    with open_planner(scripted_config(tmp_path, [{"action": "answer", "answer": "two"}])) as planner:
        reply = planner.plan(sample_request())
        assert (reply.action.answer, reply.action.choice) == ("two", 1)


@pytest.mark.parametrize(
    ("content", "error"),
    [(None, "does not exist"), ("{", "not valid JSON"), ("[]", "non-empty JSON list"), ("[1]", "non-empty JSON list"),
     (b"\xff\xfe", "not UTF-8")],
)
def test_bad_scripts_are_one_line_config_errors(tmp_path, content, error):
    path = tmp_path / "s.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=error):
        load_script(path)


@pytest.mark.parametrize(
    ("config", "factory", "error"),
    [
        (AgentConfig(planner=PlannerConfig(kind="scripted")), None, "needs a script"),
        (AgentConfig(), "no_such_module:f", "cannot be imported"),
        (AgentConfig(), "nocolon", "must look like"),
    ],
)
def test_configuration_errors(config, factory, error):
    with pytest.raises(ConfigError, match=error):
        PlannerSource(config, factory)
