"""Planning style ``program``: the first turn writes the plan as a program, the agent runs it in
the restricted interpreter on real footage, and the planner answers from the reports; a program
that cannot run sends the planner to the JSON loop without losing the question."""

import pytest

from agent import Budgets, VideoAgent
from agent.config import AgentConfig
from planners.base import WriteProgram
from planners.openai_compat import build_request, read_completion
from planners.config import PlannerConfig
from planners.prompting import load_prompts, render_messages
from planners.scripted import ScriptedPlanner
from tools.cache import ResultCache
from tools.errors import ConfigError

COMPOSED = (
    "shots = detect_shots()\n"
    "for shot in shots['shots'][:2]:\n"
    "    dominant_color(time_s=shot['start_s'] + 0.5)"
)


@pytest.fixture
def cache(tmp_path):
    return ResultCache(tmp_path / "results.sqlite")


def program(source, thought="plan"):
    return {"action": "program", "thought": thought, "program": source}


def ask(bikes_mp4, cache, script, **kwargs):
    planner = ScriptedPlanner(script)
    agent = VideoAgent(planner=planner, tools="core", cache=cache, planning="program", **kwargs)
    return agent.ask(bikes_mp4, "What colour is the first shot?"), planner.requests


def test_a_program_composes_tools_then_the_planner_answers_from_their_reports(bikes_mp4, cache):
    answer, requests = ask(bikes_mp4, cache, [program(COMPOSED), {"action": "answer", "answer": "grey"}])
    assert answer.status == "answered" and answer.text == "grey"
    assert requests[0].write_program and requests[0].planning == "program" and not requests[0].history
    first = answer.trace.steps[0]
    assert (first.kind, first.action, first.error) == ("program", "program", None)
    assert [c.name for c in first.tool_calls] == ["detect_shots", "dominant_color", "dominant_color"]
    # the second colour call was made at the start of the second shot, read from detect_shots' result
    assert first.tool_calls[2].args["time_s"] == pytest.approx(1.7, abs=0.1)
    assert all(c.status == "ok" for c in first.tool_calls)

    answering = requests[1]
    assert not answering.write_program and answering.planning == "program"
    (step,) = answering.history
    assert isinstance(step.action, WriteProgram) and step.action.program == COMPOSED
    assert [c.name for c in step.action.calls] == [o.name for o in step.observations]
    messages = render_messages(answering, mode="json", prompts=load_prompts("compact"))
    assert "writes the whole plan at once, as a short Python program" in messages[0]["content"]
    assert '"action": "program"' in messages[2]["content"] and messages[2]["role"] == "assistant"
    assert "detect_shots" in messages[3]["content"] and "dominant_color" in messages[3]["content"]


def test_a_refused_program_sends_the_planner_to_the_json_loop(bikes_mp4, cache):
    script = [
        program("import os\ndetect_shots()"),
        {"action": "call_tools", "calls": [{"name": "detect_shots", "args": {}}]},
        {"action": "answer", "answer": "6 shots"},
    ]
    answer, requests = ask(bikes_mp4, cache, script)
    assert answer.status == "answered" and answer.text == "6 shots"
    assert answer.trace.steps[0].error == "program refused: line 1: import is not allowed"
    assert answer.trace.steps[0].tool_calls == []
    assert "the program was not run (line 1: import is not allowed)" in requests[1].feedback
    assert not requests[1].write_program and requests[1].planning == "program"
    assert [s.kind for s in answer.trace.steps] == ["program", "retry", "plan"]


def test_two_replies_that_are_no_program_fall_back_to_the_loop(bikes_mp4, cache):
    script = [
        "{not json",
        {"action": "call_tools", "calls": [{"name": "detect_shots", "args": {}}]},  # refused: a program was asked
        {"action": "call_tools", "calls": [{"name": "detect_shots", "args": {}}]},
        {"action": "answer", "answer": "6 shots"},
    ]
    answer, requests = ask(bikes_mp4, cache, script)
    assert answer.status == "answered"
    assert [r.write_program for r in requests] == [True, True, False, False]
    assert "write your plan as a program" in answer.trace.steps[1].error


def test_a_program_that_fails_midway_keeps_its_calls_and_says_where_it_stopped(bikes_mp4, cache):
    script = [program("detect_shots()\ncolor = dominant_color(time_s=missing)"), {"action": "answer", "answer": "6"}]
    answer, requests = ask(bikes_mp4, cache, script)
    assert answer.status == "answered"
    assert answer.trace.steps[0].error == "program stopped: line 2: the name missing is not defined"
    observations = requests[1].history[0].observations
    assert [o.name for o in observations] == ["detect_shots", "program"]
    assert observations[1].status == "error" and "line 2: the name missing is not defined" in observations[1].text


def test_the_tool_call_budget_and_repeats_hold_inside_a_program(bikes_mp4, cache):
    source = "detect_shots()\ndetect_shots()\nvideo_info()\ndominant_color(time_s=1)"
    script = [program(source), {"action": "answer", "answer": "6"}]
    answer, requests = ask(bikes_mp4, cache, script, budgets=Budgets(max_tool_calls=2))
    calls = answer.trace.steps[0].tool_calls
    assert [c.name for c in calls] == ["detect_shots", "video_info"]  # the repeat ran once
    assert answer.trace.steps[0].error == "program stopped: line 4: the tool-call budget is exhausted"
    assert requests[1].must_answer  # no calls left: the next turn is the answer


def test_program_requests_carry_the_program_schema_and_parse_the_reply(bikes_mp4, cache):
    _, requests = ask(bikes_mp4, cache, [program("video_info()"), {"action": "answer", "answer": "x"}])
    config = PlannerConfig(kind="openai", dialect="llamacpp", mode="json", prompt="compact")
    body = build_request(config, requests[0])
    schema = body["response_format"]["schema"]
    assert list(schema["properties"]) == ["action", "thought", "program"]
    assert schema["properties"]["program"]["maxLength"] == 600
    reply = read_completion(
        {"choices": [{"message": {"content": '{"action": "program", "thought": "t", "program": "video_info()"}'},
                      "finish_reason": "stop"}]},
        requests[0], config,
    )
    assert isinstance(reply.action, WriteProgram) and reply.action.program == "video_info()"
    looped = read_completion(
        {"choices": [{"message": {"content": '{"action": "program", "thought": "t", "program": "x()"}'},
                      "finish_reason": "stop"}]},
        requests[1], config,
    )
    assert looped.action is None and "not a program" in looped.error


def test_program_planning_is_a_pipeline_setting_that_needs_json_mode(tmp_path):
    good = tmp_path / "program.toml"
    good.write_text('[planner]\nmode = "json"\n[planning]\nstyle = "program"\n')
    assert AgentConfig.load(good).planning.style == "program"
    bad = tmp_path / "tools.toml"
    bad.write_text('[planner]\nmode = "tools"\ndialect = "vllm"\n[planning]\nstyle = "program"\n')
    with pytest.raises(ConfigError, match="planning style 'program' needs the planner's mode 'json'"):
        AgentConfig.load(bad)
