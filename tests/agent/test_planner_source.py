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


def test_prompt_state_goes_under_the_cache_dir_keyed_by_model_sha256_and_context(tmp_path, monkeypatch):
    import hashlib

    from agent.config import LocalLLMConfig
    from agent.planner_source import prompt_state_options

    monkeypatch.setenv("VIDAGENT_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "m.gguf"
    model.write_bytes(b"not really a model, but hashed like one")
    sha = hashlib.sha256(model.read_bytes()).hexdigest()

    options = prompt_state_options(LocalLLMConfig(model=str(model), n_ctx=4096), model)
    assert options["state_dir"] == tmp_path / "cache" / "llm-state" / f"{sha[:16]}-ctx4096"
    assert options["state_bytes"] == 1 << 30
    elsewhere = prompt_state_options(LocalLLMConfig(model=str(model), prompt_state_dir=str(tmp_path / "fast")), model)
    assert elsewhere["state_dir"] == tmp_path / "fast" / f"{sha[:16]}-ctx8192"
    assert prompt_state_options(LocalLLMConfig(model=str(model), prompt_state_on_disk=False), model) == {}
