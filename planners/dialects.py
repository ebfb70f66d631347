"""How each OpenAI-compatible server takes a structured-output constraint, and the schemas sent.

Measured on vLLM 0.32 (CPU) and llama-cpp-python's server:

============  =====================================================  ===========================
dialect       json mode (``response_format``)                         tools mode
============  =====================================================  ===========================
``vllm``      ``{"type": "json_schema", "json_schema": {name, schema,  strict tools,
              strict: true}}`` (never ``guided_json``: ignored)        ``tool_choice="required"``
``llamacpp``  ``{"type": "json_object", "schema": schema}``            refused: the server ignores
              (its ``json_schema`` answers HTTP 500)                   ``tool_choice="required"``
``openai``    ``json_schema`` strict, in OpenAI's strict subset:       strict tools,
              root wrapped in an object, every property required       ``tool_choice="required"``
============  =====================================================  ===========================

In json mode the reply is one action object: a union (``anyOf``) of a ``call_tools`` branch, whose
calls are each ``{"name": <const tool name>, "args": <that tool's parameter schema>}``, and an
``answer`` branch. With ``must_answer`` only the answer branch is allowed; with options, ``choice``
is an integer enumerating the option indices (``enum`` is honoured by every grammar converter we
use; ``minimum``/``maximum`` are not everywhere). In tools mode the answer is the pseudo-tool
``final_answer`` and ``must_answer`` names that function in ``tool_choice``, so the tool list (part
of the cached prompt prefix) stays the same.

A server may still ignore a constraint; every reply is validated by the planner regardless.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

from planners.base import PlannerInput
from tools.errors import ConfigError
from tools.types import ToolSpec

FINAL_ANSWER_TOOL = "final_answer"
RESPONSE_SCHEMA_NAME = "planner_action"
#: OpenAI's strict mode rejects a union at the root, so the openai dialect wraps the action.
STRICT_ROOT_KEY = "step"


@dataclass(frozen=True)
class Dialect:
    """One server family's way of taking constraints.

    ``json_format``: ``json_schema`` or ``json_object`` (with a ``schema`` key) as
    ``response_format``. ``tool_choice``: the value that forces some tool call, or None when the
    server cannot force one (tools mode is then refused). ``strict_subset``: schemas must follow
    OpenAI's strict rules (all properties required, no ``default``, object at the root).
    ``max_tokens_field``: the request field that caps the completion length.
    """

    name: str
    json_format: Literal["json_schema", "json_object"]
    tool_choice: str | None
    strict_subset: bool
    max_tokens_field: str


DIALECTS: dict[str, Dialect] = {
    "vllm": Dialect("vllm", "json_schema", "required", strict_subset=False, max_tokens_field="max_tokens"),
    "llamacpp": Dialect("llamacpp", "json_object", None, strict_subset=False, max_tokens_field="max_tokens"),
    "openai": Dialect("openai", "json_schema", "required", strict_subset=True, max_tokens_field="max_completion_tokens"),
}


def unsupported_reason(dialect: str, mode: str) -> str | None:
    """Why ``mode`` cannot be used with ``dialect``, or None when it can."""
    if dialect not in DIALECTS:
        return f"unknown planner dialect {dialect!r}; choose one of {', '.join(DIALECTS)}"
    if mode == "tools" and DIALECTS[dialect].tool_choice is None:
        return (
            f"planner dialect {dialect!r} cannot force a tool call (the server ignores "
            "tool_choice='required'); use mode 'json', which it constrains with a JSON schema"
        )
    if mode not in ("json", "tools"):
        return f"unknown planner mode {mode!r}; choose 'json' or 'tools'"
    return None


def get_dialect(dialect: str, mode: str) -> Dialect:
    """The dialect, or ConfigError when it is unknown or cannot serve ``mode``."""
    reason = unsupported_reason(dialect, mode)
    if reason:
        raise ConfigError(reason)
    return DIALECTS[dialect]


# --- the constraint fields of a request --------------------------------------------------------


def constraint_fields(dialect: Dialect, mode: str, request: PlannerInput, final_answer_description: str) -> dict:
    """The request-body fields that constrain the reply: ``response_format`` or ``tools``."""
    if mode == "json":
        return {"response_format": response_format(dialect, request)}
    return {
        "tools": tool_definitions(dialect, request, final_answer_description),
        "tool_choice": tool_choice(dialect, request),
    }


def response_format(dialect: Dialect, request: PlannerInput) -> dict:
    """``response_format`` for json mode."""
    schema = action_schema(request)
    if dialect.strict_subset:
        schema = _object(**{STRICT_ROOT_KEY: strict_schema(schema)})
    if dialect.json_format == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": RESPONSE_SCHEMA_NAME, "schema": schema, "strict": True}}


def tool_definitions(dialect: Dialect, request: PlannerInput, final_answer_description: str) -> list[dict]:
    """Strict function tools for tools mode: the request's tools, then ``final_answer``."""
    if any(t.name == FINAL_ANSWER_TOOL for t in request.tools):
        raise ConfigError(f"a tool may not be named {FINAL_ANSWER_TOOL!r} in tools mode: that name is the answer")
    answer = answer_schema(request)
    answer["properties"].pop("action")
    answer["required"].remove("action")
    functions = [(t.name, t.description, t.parameters) for t in request.tools]
    functions.append((FINAL_ANSWER_TOOL, final_answer_description, answer))
    return [
        _function(name, description, strict_schema(params) if dialect.strict_subset else params)
        for name, description, params in functions
    ]


def tool_choice(dialect: Dialect, request: PlannerInput) -> str | dict:
    if request.must_answer or not request.tools:
        return {"type": "function", "function": {"name": FINAL_ANSWER_TOOL}}
    assert dialect.tool_choice is not None, "checked by get_dialect"
    return dialect.tool_choice


def _function(name: str, description: str, parameters: dict) -> dict:
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters, "strict": True},
    }


# --- the action schema -------------------------------------------------------------------------


def action_schema(request: PlannerInput) -> dict:
    """JSON schema of one planner reply in json mode (see the module docstring)."""
    answer = answer_schema(request)
    if request.must_answer or not request.tools:
        return answer
    if request.must_call_tools:
        return call_tools_schema(request.tools)
    return {"anyOf": [call_tools_schema(request.tools), answer]}


def call_tools_schema(tools: tuple[ToolSpec, ...]) -> dict:
    calls = [_object(name={"type": "string", "const": t.name}, args=t.parameters) for t in tools]
    return _object(
        action={"type": "string", "const": "call_tools"},
        thought={"type": "string"},
        calls={"type": "array", "minItems": 1, "items": calls[0] if len(calls) == 1 else {"anyOf": calls}},
    )


def answer_schema(request: PlannerInput) -> dict:
    """The answer branch. Every field is required (nullable where optional) so it also fits
    OpenAI's strict subset; ``choice`` is null without options, an option index with them."""
    if request.options:
        choice = {
            "type": "integer",
            "enum": list(range(len(request.options))),
            "description": "0-based index of the chosen option",
        }
    else:
        choice = {"type": "null", "description": "null: the question has no options"}
    evidence = _object(
        time_s={"type": "number", "minimum": 0, "description": "seconds from the start of the video"},
        frame_index={"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]},
        box={
            "anyOf": [{"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}, {"type": "null"}],
            "description": "x1, y1, x2, y2 in source pixels",
        },
        note={"type": "string"},
    )
    return _object(
        action={"type": "string", "const": "answer"},
        thought={"type": "string"},
        answer={"type": "string", "minLength": 1},
        choice=choice,
        confidence={"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}]},
        evidence={"type": "array", "items": evidence, "description": "where in the video the answer is seen"},
    )


def _object(**properties: dict) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


# --- OpenAI's strict subset --------------------------------------------------------------------

#: Keywords OpenAI's strict mode refuses or may refuse; replies are validated afterwards anyway.
_NOT_IN_STRICT = ("default", "title", "minLength", "maxLength")


def strict_schema(schema: Any) -> Any:
    """``schema`` rewritten for OpenAI's strict mode: every object closed, every property
    required (optional ones made nullable), ``_NOT_IN_STRICT`` keywords dropped. Pair with
    ``drop_unset_optionals`` on the way back so a tool still sees its defaults."""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k not in _NOT_IN_STRICT}
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if key in out:
            out[key] = [strict_schema(s) for s in out[key]]
    if isinstance(out.get("items"), dict):
        out["items"] = strict_schema(out["items"])
    if "properties" in out:
        required = set(schema.get("required", ()))
        props = {}
        for name, prop in out["properties"].items():
            prop = strict_schema(prop)
            props[name] = prop if name in required or _allows_null(prop) else {"anyOf": [prop, {"type": "null"}]}
        out["properties"] = props
        out["required"] = list(props)
        out["additionalProperties"] = False
    return out


def drop_unset_optionals(args: Any, parameters: dict) -> Any:
    """Undo ``strict_schema`` on a reply's arguments: drop nulls the model had to write for
    optional properties that do not themselves accept null, so their defaults apply."""
    if not isinstance(args, dict) or "properties" not in parameters:
        return args
    required = set(parameters.get("required", ()))
    out = {}
    for name, value in args.items():
        prop = parameters["properties"].get(name, {})
        if value is None and name not in required and not _allows_null(prop):
            continue
        out[name] = drop_unset_optionals(value, prop)
    return out


def unwrap_strict_reply(obj: Any, request: PlannerInput) -> Any:
    """A parsed openai-dialect json reply, unwrapped and with unset optional arguments dropped."""
    if isinstance(obj, dict) and set(obj) == {STRICT_ROOT_KEY}:
        obj = obj[STRICT_ROOT_KEY]
    if isinstance(obj, dict) and isinstance(obj.get("calls"), list):
        params = {t.name: t.parameters for t in request.tools}
        obj = copy.copy(obj)
        obj["calls"] = [
            {**c, "args": drop_unset_optionals(c.get("args"), params[c["name"]])}
            if isinstance(c, dict) and c.get("name") in params
            else c
            for c in obj["calls"]
        ]
    return obj


def _allows_null(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(s) for key in ("anyOf", "oneOf") for s in schema.get(key, ()))
