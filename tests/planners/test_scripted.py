"""ScriptedPlanner and FunctionPlanner."""

from __future__ import annotations

import json

import pytest

from planners.base import CallTools, FinalAnswer, Planner, PlannerError
from planners.config import PlannerConfig
from planners.scripted import FunctionPlanner, ScriptedPlanner
from tests.planners.chat_server import sample_request
from tools.types import ToolCall

ANSWER = FinalAnswer(thought="two seen", answer="two", choice=1)
CALL = CallTools(thought="look", calls=(ToolCall(name="read_text", args={"time_s": 1.0}),))


def test_scripted_planner_replays_in_order_and_records_requests():
    planner = ScriptedPlanner([CALL, {"action": "answer", "answer": "three", "choice": 2}])
    assert isinstance(planner, Planner)
    first, second = sample_request(steps=0), sample_request(steps=1)
    assert planner.plan(first).action == CALL
    reply = planner.plan(second)
    assert isinstance(reply.action, FinalAnswer) and reply.action.choice == 2
    assert planner.requests == [first, second]
    assert planner.remaining == 0
    with pytest.raises(PlannerError, match="ran out of script after 2 replies"):
        planner.plan(second)


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ('{"action": "answer", "answer": ', "not valid JSON"),
        ("I think two.", "not valid JSON"),
        ({"action": "call_tools", "calls": [{"name": "teleport", "args": {}}]}, "unknown tool"),
        (FinalAnswer(answer="four", choice=3), "out of range"),
        (FinalAnswer(answer="four"), "must be one of the options"),
        (FinalAnswer(answer="two", choice=2), "they must name the same option"),
    ],
)
def test_scripted_steps_are_validated_like_model_replies(step, error):
    reply = ScriptedPlanner([step]).plan(sample_request())
    assert reply.action is None
    assert error in reply.error
    assert reply.raw  # kept for the trace


def test_a_tool_call_is_refused_when_the_budget_is_exhausted():
    reply = ScriptedPlanner([CALL]).plan(sample_request(must_answer=True))
    assert reply.action is None and "budget is exhausted" in reply.error


def test_function_planner_sees_each_request():
    def answer_after_one_step(request):
        if not request.history:
            return CALL
        return json.dumps({"action": "answer", "answer": request.options[len(request.history)]})

    planner = FunctionPlanner(answer_after_one_step)
    assert planner.name == "answer_after_one_step"
    assert planner.plan(sample_request(steps=0)).action == CALL
    reply = planner.plan(sample_request(steps=1))
    assert reply.action.answer == "two" and reply.action.choice == 1
    assert FunctionPlanner(lambda r: {"action": "answer", "answer": "x", "choice": 9}).plan(sample_request()).error


def test_function_planner_rejects_other_return_types():
    with pytest.raises(TypeError, match="must be an action, a dict or a str"):
        FunctionPlanner(lambda r: 42).plan(sample_request())


def test_config_is_frozen_and_strict():
    config = PlannerConfig()
    assert (config.dialect, config.mode, config.temperature) == ("vllm", "json", 0.0)
    with pytest.raises(ValueError):
        PlannerConfig(api_key="sk-...")  # keys never go in the config
    with pytest.raises(ValueError, match="needs 'model'"):
        PlannerConfig(dialect="openai")
    with pytest.raises(ValueError):
        config.__setattr__("model", "x")


def test_a_key_pasted_into_api_key_env_is_refused_without_echoing_it():
    with pytest.raises(ValueError, match="api_key_env") as err:
        PlannerConfig(api_key_env="sk-live-abc123")
    assert "sk-live" not in str(err.value)
