"""OpenAICompatiblePlanner against a real HTTP server (tests/planners/chat_server.py)."""

from __future__ import annotations

import json
import socket
import time

import jsonschema
import pytest

from planners.base import CallTools, FinalAnswer, PlannerError
from planners.config import PlannerConfig
from planners.dialects import STRICT_ROOT_KEY
from planners.openai_compat import OpenAICompatiblePlanner
from tests.planners.chat_server import (  # noqa: F401 (chat_server is a fixture)
    ChatServer,
    Completion,
    Drop,
    HTTPError,
    Slow,
    chat_server,
    json_reply,
    openai_error,
    sample_request,
    tool_call,
)
from tools.errors import ConfigError

CHECKS = [{"option": "one", "fits": "no"}, {"option": "two", "fits": "yes"}, {"option": "three", "fits": "no"}]
ANSWER = {"action": "answer", "thought": "saw two", "option_checks": CHECKS, "answer": "two", "confidence": 0.9, "evidence": []}
CALL = {"action": "call_tools", "thought": "look", "calls": [{"name": "read_text", "args": {"time_s": 2.5}}]}


def planner_for(server: ChatServer, **overrides) -> OpenAICompatiblePlanner:
    settings = dict(base_url=server.url, timeout_s=0.5, max_retries=2, backoff_s=0.01) | overrides
    return OpenAICompatiblePlanner(PlannerConfig(**settings))


# --- what the client sends ---------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["vllm", "llamacpp", "openai"])
def test_json_mode_request_shape_per_dialect(chat_server, dialect):
    reply = {STRICT_ROOT_KEY: ANSWER} if dialect == "openai" else ANSWER
    chat_server.push(json_reply(reply))
    with planner_for(chat_server, dialect=dialect, model="m1", seed=3) as planner:
        result = planner.plan(sample_request())
    assert result.error is None and isinstance(result.action, FinalAnswer)

    body = chat_server.last_body
    assert body["model"] == "m1" and body["seed"] == 3 and body["temperature"] == 0.0
    assert "tools" not in body and "guided_json" not in body and "structured_outputs" not in body
    fmt = body["response_format"]
    if dialect == "llamacpp":
        assert fmt["type"] == "json_object"
        schema = fmt["schema"]
    else:
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        schema = fmt["json_schema"]["schema"]
    # the schema the server got accepts the reply the planner accepted
    assert jsonschema.Draft202012Validator(schema).is_valid(reply)
    tokens_field = "max_completion_tokens" if dialect == "openai" else "max_tokens"
    assert body[tokens_field] == 1024


def test_model_left_out_when_not_configured(chat_server):
    chat_server.push(json_reply(ANSWER))
    planner_for(chat_server).plan(sample_request())
    assert "model" not in chat_server.last_body


@pytest.mark.parametrize("dialect", ["vllm", "openai"])
def test_tools_mode_request_shape(chat_server, dialect):
    chat_server.push(Completion(tool_calls=(tool_call("read_text", {"time_s": 2.5}),)))
    chat_server.push(Completion(tool_calls=(tool_call("final_answer", {k: v for k, v in ANSWER.items() if k != "action"}),)))
    planner = planner_for(chat_server, dialect=dialect, mode="tools", model="m")
    planner.plan(sample_request())
    planner.plan(sample_request(must_answer=True))

    free, forced = chat_server.bodies
    assert "response_format" not in free
    assert [t["function"]["name"] for t in free["tools"]] == ["detect_objects", "read_text", "final_answer"]
    assert all(t["function"]["strict"] is True for t in free["tools"])
    assert free["tool_choice"] == "required"
    assert forced["tool_choice"] == {"type": "function", "function": {"name": "final_answer"}}
    assert forced["tools"] == free["tools"]  # same tools: the cached prompt prefix survives
    assert [m["role"] for m in free["messages"]] == ["system", "user", "assistant", "tool"]


def test_llamacpp_tools_mode_is_refused_before_any_request():
    with pytest.raises(ValueError, match="use mode 'json'"):
        PlannerConfig(dialect="llamacpp", mode="tools")


# --- replies -----------------------------------------------------------------------------------


def test_a_valid_call_becomes_an_action_with_usage_model_and_time(chat_server):
    usage = {"prompt_tokens": 812, "completion_tokens": 41, "total_tokens": 853, "prompt_tokens_details": {"cached_tokens": 768}}
    chat_server.push(json_reply(CALL, usage=usage, model="served/qwen"))
    reply = planner_for(chat_server).plan(sample_request())
    assert reply.error is None
    assert isinstance(reply.action, CallTools)
    assert [(c.name, c.args) for c in reply.action.calls] == [("read_text", {"time_s": 2.5})]
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.cached_prompt_tokens) == (812, 41, 768)
    assert reply.model == "served/qwen"
    assert reply.seconds > 0
    assert json.loads(reply.raw) == CALL


def test_usage_without_cache_details(chat_server):
    chat_server.push(json_reply(ANSWER, usage={"prompt_tokens": 5, "completion_tokens": 2, "prompt_tokens_details": None}))
    chat_server.push(json_reply(ANSWER))  # no usage block at all
    planner = planner_for(chat_server)
    assert planner.plan(sample_request()).usage.model_dump() == {"prompt_tokens": 5, "completion_tokens": 2, "cached_prompt_tokens": 0}
    assert planner.plan(sample_request()).usage.prompt_tokens == 0


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ('{"action": "answer", "answer": ', "not valid JSON"),
        ("Sure! There are two bicycles.", "not valid JSON"),  # a constraint the server ignored
        (json.dumps({**CALL, "calls": [{"name": "fly_drone", "args": {}}]}), "unknown tool"),
        (json.dumps({**ANSWER, "choice": 7}), "out of range 0-2"),
        (json.dumps({**ANSWER, "answer": "a few"}), "must be one of the options"),
        (json.dumps({**ANSWER, "choice": 0}), "they must name the same option"),
        (json.dumps({"action": "shrug"}), "does not match the action schema"),
    ],
)
def test_invalid_replies_are_errors_not_exceptions(chat_server, content, error):
    chat_server.push(Completion(content=content, usage={"prompt_tokens": 10, "completion_tokens": 3}))
    reply = planner_for(chat_server).plan(sample_request())
    assert reply.action is None
    assert error in reply.error
    assert reply.raw == content
    assert reply.usage.completion_tokens == 3


def test_a_reply_cut_off_by_max_tokens_says_so(chat_server):
    truncated = '{"action": "answer", "thought": "The first bicycle appears at'
    chat_server.push(Completion(content=truncated, finish_reason="length"))
    reply = planner_for(chat_server, max_tokens=12).plan(sample_request())
    assert reply.action is None
    assert "cut off" in reply.error and "12-token" in reply.error
    assert reply.raw == truncated


def test_openai_dialect_unwraps_and_restores_tool_defaults(chat_server):
    call = {"action": "call_tools", "thought": "", "calls": [{"name": "detect_objects", "args": {"labels": ["car"], "start_s": None, "end_s": None, "min_confidence": None}}]}
    chat_server.push(json_reply({STRICT_ROOT_KEY: call}))
    reply = planner_for(chat_server, dialect="openai", model="m").plan(sample_request())
    assert reply.error is None
    assert reply.action.calls[0].args == {"labels": ["car"], "end_s": None}


# --- tools mode replies ------------------------------------------------------------------------


def test_tool_calls_become_call_tools_keeping_their_ids(chat_server):
    chat_server.push(
        Completion(
            content="Read the sign and find bikes.",
            tool_calls=(tool_call("read_text", {"time_s": 1}, "c-1"), tool_call("detect_objects", {"labels": ["bicycle"]}, "c-2")),
        )
    )
    reply = planner_for(chat_server, mode="tools").plan(sample_request())
    assert reply.error is None
    assert reply.action.thought == "Read the sign and find bikes."
    assert [(c.id, c.name) for c in reply.action.calls] == [("c-1", "read_text"), ("c-2", "detect_objects")]


def test_final_answer_tool_becomes_the_answer(chat_server):
    args = {k: v for k, v in ANSWER.items() if k != "action"}
    chat_server.push(Completion(tool_calls=(tool_call("final_answer", args),)))
    reply = planner_for(chat_server, mode="tools").plan(sample_request())
    assert isinstance(reply.action, FinalAnswer) and reply.action.choice == 1


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (Completion(content="There are two."), "called no function"),
        (Completion(tool_calls=(tool_call("read_text", '{"time_s": '),)), "not valid JSON"),
        (Completion(tool_calls=(tool_call("final_answer", {"answer": "two", "choice": 1}), tool_call("read_text", {"time_s": 1}))), "alone"),
        (Completion(tool_calls=(tool_call("launch", {}),)), "unknown tool"),
    ],
)
def test_invalid_tool_replies_are_errors(chat_server, message, error):
    chat_server.push(message)
    reply = planner_for(chat_server, mode="tools").plan(sample_request())
    assert reply.action is None and error in reply.error
    assert reply.raw


# --- HTTP failures -----------------------------------------------------------------------------


def test_5xx_is_retried_then_succeeds(chat_server):
    chat_server.push(HTTPError(500, openai_error("engine busy", code=500)), HTTPError(503, "overloaded"), json_reply(ANSWER))
    reply = planner_for(chat_server).plan(sample_request())
    assert isinstance(reply.action, FinalAnswer)
    assert len(chat_server.bodies) == 3
    assert chat_server.bodies[0] == chat_server.bodies[2]  # the same request each time


def test_429_is_retried(chat_server):
    chat_server.push(HTTPError(429, openai_error("rate limited", code=429)), json_reply(ANSWER))
    assert planner_for(chat_server).plan(sample_request()).action is not None


def test_5xx_until_retries_run_out_is_a_planner_error(chat_server):
    chat_server.push(*[HTTPError(500, openai_error("CUDA out of memory", code=500))] * 3)
    with pytest.raises(PlannerError, match="after 3 attempt.*CUDA out of memory"):
        planner_for(chat_server, max_retries=2).plan(sample_request())
    assert chat_server.pending == 0


def test_4xx_is_not_retried_and_carries_the_server_text(chat_server):
    message = "This model's maximum context length is 2048 tokens. However, you requested 3100 tokens.\nPlease reduce."
    chat_server.push(HTTPError(400, openai_error(message)), json_reply(ANSWER))
    with pytest.raises(PlannerError) as err:
        planner_for(chat_server).plan(sample_request())
    text = str(err.value)
    assert "HTTP 400" in text and "maximum context length is 2048 tokens" in text
    assert "\n" not in text
    assert len(chat_server.bodies) == 1


def test_fastapi_style_error_detail_is_reported(chat_server):
    chat_server.push(HTTPError(422, {"detail": [{"loc": ["body", "messages"], "msg": "field required"}]}))
    with pytest.raises(PlannerError, match="HTTP 422.*field required"):
        planner_for(chat_server).plan(sample_request())


def test_timeouts_are_retried_then_a_planner_error(chat_server):
    chat_server.push(Slow(1.0), Slow(1.0))
    started = time.perf_counter()
    with pytest.raises(PlannerError, match="no reply within 0.2 s"):
        planner_for(chat_server, timeout_s=0.2, max_retries=1).plan(sample_request())
    assert time.perf_counter() - started < 1.5
    assert len(chat_server.bodies) == 2


def test_a_timeout_then_a_reply(chat_server):
    chat_server.push(Slow(1.0), json_reply(ANSWER))
    assert planner_for(chat_server, timeout_s=0.3).plan(sample_request()).action is not None


def test_a_dropped_connection_is_retried(chat_server):
    chat_server.push(Drop(), json_reply(ANSWER))
    assert planner_for(chat_server).plan(sample_request()).action is not None
    assert len(chat_server.bodies) == 2


def test_no_server_is_a_planner_error_after_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    planner = OpenAICompatiblePlanner(
        PlannerConfig(base_url=f"http://127.0.0.1:{port}/v1", timeout_s=0.5, max_retries=1, backoff_s=0.01)
    )
    with pytest.raises(PlannerError, match="after 2 attempt.*connection failed"):
        planner.plan(sample_request())


def test_a_200_that_is_not_a_chat_completion_is_a_planner_error(chat_server):
    chat_server.push(HTTPError(200, "<html>proxy login</html>"), HTTPError(200, {"object": "list", "data": []}))
    planner = planner_for(chat_server)
    with pytest.raises(PlannerError, match="not JSON.*proxy login"):
        planner.plan(sample_request())
    with pytest.raises(PlannerError, match="not a chat completion"):
        planner.plan(sample_request())


# --- images and credentials --------------------------------------------------------------------


@pytest.mark.parametrize(("vision", "expected_images"), [(True, 2), (False, 0)])
def test_frames_are_sent_only_to_vision_models(chat_server, vision, expected_images):
    chat_server.push(json_reply(ANSWER))
    planner = planner_for(chat_server, vision=vision, max_images=2)
    assert planner.vision_limits.enabled is vision
    planner.plan(sample_request(images=4))
    content = chat_server.last_body["messages"][-1]["content"]
    parts = content if isinstance(content, list) else []
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert len(urls) == expected_images
    assert all(u.startswith("data:image/jpeg;base64,") for u in urls)


def test_api_key_comes_from_the_named_env_var(chat_server, monkeypatch):
    monkeypatch.setenv("VIDAGENT_TEST_PLANNER_KEY", "sk-test-123")
    chat_server.push(json_reply(ANSWER), json_reply(ANSWER))
    planner = planner_for(chat_server, api_key_env="VIDAGENT_TEST_PLANNER_KEY")
    planner.plan(sample_request())
    assert chat_server.requests[-1].headers["authorization"] == "Bearer sk-test-123"
    assert "sk-test" not in repr(planner) and "sk-test" not in repr(planner.config)
    planner_for(chat_server).plan(sample_request())
    assert "authorization" not in chat_server.requests[-1].headers


def test_a_missing_api_key_env_var_is_a_config_error(chat_server, monkeypatch):
    monkeypatch.delenv("VIDAGENT_TEST_PLANNER_KEY", raising=False)
    with pytest.raises(ConfigError, match="VIDAGENT_TEST_PLANNER_KEY"):
        planner_for(chat_server, api_key_env="VIDAGENT_TEST_PLANNER_KEY")


def test_the_fixture_server_answers_health_and_models(chat_server):
    import httpx

    assert httpx.get(chat_server.root_url + "/health").json() == {"status": "ok"}
    assert httpx.get(chat_server.url + "/models").json()["data"][0]["id"] == "test-model"
