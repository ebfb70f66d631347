"""A planner behind an OpenAI-compatible ``/chat/completions`` endpoint (vLLM, llama.cpp, OpenAI).

``build_request`` turns a PlannerInput into a request body (messages from ``prompting``,
constraint fields from ``dialects``); ``read_completion`` turns the response into a
PlannerReply; ``OpenAICompatiblePlanner`` does the HTTP in between, with retries.

Every reply is validated with ``parse_action`` whatever constraint was sent: a server may
ignore one (vLLM ignores ``guided_json``), so an invalid reply becomes ``PlannerReply.error``
for the agent to send back, never an exception. Exceptions (PlannerError) are for requests
that got no usable answer: a 4xx, or connection errors, timeouts and 5xx after all retries.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx

from planners.base import PlannerError, PlannerInput, PlannerReply, TokenUsage, parse_action
from planners.config import PlannerConfig, VisionLimits
from planners.dialects import (
    FINAL_ANSWER_TOOL,
    Dialect,
    constraint_fields,
    drop_unset_optionals,
    get_dialect,
    unwrap_strict_reply,
)
from planners.prompting import PromptSet, load_prompts, render_messages
from tools.errors import ConfigError
from tools.openai_http import auth_headers, error_text, one_line

log = logging.getLogger(__name__)

#: Statuses worth another attempt besides 5xx: request timeout and rate limiting.
RETRYABLE_4XX = frozenset({408, 429})
#: Longest server error text kept in a PlannerError message.


def build_request(config: PlannerConfig, request: PlannerInput, prompts: PromptSet | None = None) -> dict:
    """The JSON body of one ``POST /chat/completions`` for ``request``."""
    dialect = get_dialect(config.dialect, config.mode)
    prompts = prompts or load_prompts(config.prompt)
    body: dict[str, Any] = {}
    if config.model:
        body["model"] = config.model
    body["messages"] = render_messages(request, mode=config.mode, prompts=prompts, vision=config.vision_limits)
    body["temperature"] = config.temperature
    body[dialect.max_tokens_field] = config.max_tokens
    if config.seed is not None:
        body["seed"] = config.seed
    body.update(constraint_fields(dialect, config.mode, request, prompts.render("final_answer_tool")))
    return body


def read_completion(data: dict, request: PlannerInput, config: PlannerConfig, seconds: float = 0.0) -> PlannerReply:
    """A chat-completion response body as a validated PlannerReply.

    Raises PlannerError only when ``data`` is not a chat completion at all.
    """
    try:
        choice = data["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise PlannerError(f"the planner server's reply is not a chat completion: {one_line(json.dumps(data))}") from None
    dialect = get_dialect(config.dialect, config.mode)
    usage = token_usage(data.get("usage"))
    model = data.get("model") or config.model

    if config.mode == "tools" and message.get("tool_calls"):
        raw = json.dumps({"content": message.get("content"), "tool_calls": message["tool_calls"]}, ensure_ascii=False)
    else:
        raw = message.get("content") or ""

    if choice.get("finish_reason") == "length":
        error = (
            f"the reply was cut off at the {config.max_tokens}-token limit before it was complete "
            "(finish_reason 'length'); keep 'thought' short"
        )
        return PlannerReply(error=error, raw=raw, usage=usage, seconds=seconds, model=model)

    if config.mode == "tools":
        action, error = _tool_calls_action(message, request, dialect)
    else:
        action, error = _json_action(raw, request, dialect)
    return PlannerReply(action=action, error=error, raw=raw, usage=usage, seconds=seconds, model=model)


def token_usage(usage: dict | None) -> TokenUsage:
    """Prompt, completion and cached prompt tokens from an OpenAI ``usage`` block."""
    usage = usage or {}
    details = usage.get("prompt_tokens_details") or {}
    return TokenUsage(
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        cached_prompt_tokens=details.get("cached_tokens") or 0,
    )


def _json_action(raw: str, request: PlannerInput, dialect: Dialect):
    if not dialect.strict_subset:
        return parse_action(raw, request)
    try:
        obj = json.loads(raw, strict=False)
    except json.JSONDecodeError:
        return parse_action(raw, request)  # for its error message
    return parse_action(unwrap_strict_reply(obj, request), request)


def _tool_calls_action(message: dict, request: PlannerInput, dialect: Dialect):
    """An action from native tool calls: ``final_answer`` alone, or calls to real tools."""
    tool_calls = message.get("tool_calls") or []
    if not tool_calls:
        text = (message.get("content") or "").strip()
        return None, "the reply called no function: call tools, or final_answer to answer" + (
            f" (it said: {text[:120]!r})" if text else ""
        )
    calls = []
    for tc in tool_calls:
        fn = tc.get("function") or {}
        name = fn.get("name", "")
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except json.JSONDecodeError as exc:
            return None, f"the arguments of {name or 'a function call'} are not valid JSON ({exc.msg} at position {exc.pos})"
        if not isinstance(args, dict):
            return None, f"the arguments of {name or 'a function call'} are not a JSON object"
        calls.append((tc.get("id"), name, args))

    if any(name == FINAL_ANSWER_TOOL for _, name, _ in calls):
        if len(calls) > 1:
            return None, f"{FINAL_ANSWER_TOOL} must be called alone, without other tools in the same reply"
        return parse_action({"action": "answer", **calls[0][2]}, request)

    params = {t.name: t.parameters for t in request.tools}
    action: dict[str, Any] = {"action": "call_tools", "thought": message.get("content") or "", "calls": []}
    for call_id, name, args in calls:
        if dialect.strict_subset and name in params:
            args = drop_unset_optionals(args, params[name])
        action["calls"].append({"name": name, "args": args, **({"id": call_id} if call_id else {})})
    return parse_action(action, request)


class OpenAICompatiblePlanner:
    """The Planner protocol over HTTP. Use as a context manager, or call ``close()``, to free
    the connection pool it owns (a ``client`` passed in is the caller's to close)."""

    def __init__(self, config: PlannerConfig, *, client: httpx.Client | None = None):
        if config.kind != "openai":
            raise ConfigError(f"OpenAICompatiblePlanner needs kind 'openai', not {config.kind!r}")
        get_dialect(config.dialect, config.mode)
        self.config = config
        self.prompts = load_prompts(config.prompt)
        self.name = f"{config.dialect}:{config.model or 'served-model'}"
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self._headers = auth_headers(config.api_key_env, "the planner's")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=config.timeout_s)

    @property
    def vision_limits(self) -> VisionLimits:
        """Whether to prepare frames for this planner, how many and how large."""
        return self.config.vision_limits

    def plan(self, request: PlannerInput) -> PlannerReply:
        started = time.perf_counter()
        body = build_request(self.config, request, self.prompts)
        data = self._post(body)
        return read_completion(data, request, self.config, seconds=time.perf_counter() - started)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> "OpenAICompatiblePlanner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAICompatiblePlanner({self.name!r}, url={self.url!r}, mode={self.config.mode!r})"

    def _post(self, body: dict) -> dict:
        """POST with retries on connection errors, timeouts, 5xx, 408 and 429."""
        attempts = self.config.max_retries + 1
        where = f"planner server {self.url} (dialect {self.config.dialect}, mode {self.config.mode})"
        failure = ""
        for attempt in range(attempts):
            if attempt:
                delay = self.config.backoff_s * 2 ** (attempt - 1)
                log.warning("%s: %s; retry %d/%d in %.2f s", where, failure, attempt, attempts - 1, delay)
                time.sleep(delay)
            try:
                response = self._client.post(self.url, json=body, headers=self._headers, timeout=self.config.timeout_s)
            except httpx.TimeoutException:
                failure = f"no reply within {self.config.timeout_s:g} s"
                continue
            except httpx.TransportError as exc:
                failure = f"connection failed ({type(exc).__name__}: {one_line(str(exc)) or 'no detail'})"
                continue
            if response.status_code >= 500 or response.status_code in RETRYABLE_4XX:
                failure = f"HTTP {response.status_code}: {error_text(response)}"
                continue
            if response.status_code >= 400:
                raise PlannerError(
                    f"{where} rejected the request with HTTP {response.status_code}: {error_text(response)}"
                    + _image_note(body)
                )
            try:
                return response.json()
            except ValueError:
                raise PlannerError(f"{where} answered HTTP {response.status_code} with a body that is not JSON: {one_line(response.text)}") from None
        raise PlannerError(f"{where} gave no reply after {attempts} attempt(s); last: {failure}")


def _image_note(body: dict) -> str:
    """For a refused request that carried frames: how many, and what to change if that was why."""
    n = sum(
        1
        for message in body.get("messages", ())
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if part.get("type") == "image_url"
    )
    if not n:
        return ""
    return (
        f" (the request carried {n} image(s); if the server takes fewer per prompt, lower [planner] max_images "
        "to its limit, e.g. vLLM's --limit-mm-per-prompt)"
    )
