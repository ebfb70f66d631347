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
``answer`` branch derived from ``planners.base.FinalAnswer`` (``reply_schema``). With
``must_answer`` only the answer branch is allowed. With options, ``answer`` is an ``enum`` of the
option texts and ``option_checks`` a fixed list of one check per option, written before it, so a
grammar lets the model pick only an option, by its words rather than by a digit, after reading
each option against the tool results (``enum``, ``const`` and ``prefixItems`` are honoured by
llama.cpp's and vLLM's grammar converters; ``minimum``/``maximum`` are not everywhere). The
option index, ``choice``, is derived from the answer's text, never written by the model. In tools mode the answer is the pseudo-tool
``final_answer`` and ``must_answer`` names that function in ``tool_choice``, so the tool list (part
of the cached prompt prefix) stays the same.

A server may still ignore a constraint; every reply is validated by the planner regardless.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from planners.base import FinalAnswer, PlannerInput, WriteProgram, option_values
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
    if request.write_program:
        raise ConfigError("planning style 'program' needs the planner's mode 'json'")
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
    if request.write_program:
        return program_schema()
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
    """The answer branch: ``FinalAnswer``'s schema (``reply_schema``) fitted to the question.

    ``choice`` is left out (it is derived from the answer's text). With options, ``answer`` is
    an ``enum`` of the option texts (``planners.base.option_values``) and ``option_checks`` a
    fixed-length list with one ``{"option": <that option>, "fits": ...}`` per option, in order;
    without options, ``option_checks`` is left out."""
    schema = reply_schema(FinalAnswer)
    props = schema["properties"]
    del props["choice"]
    if request.options:
        values = option_values(request.options)
        check = props["option_checks"]["items"]
        props["option_checks"] = {
            "type": "array",
            "prefixItems": [
                {**check, "properties": {**check["properties"], "option": {"type": "string", "const": v}}} for v in values
            ],
            "minItems": len(values),
            "maxItems": len(values),
            "description": check_description(),
        }
        props["answer"] = {"type": "string", "enum": values, "description": "the option the checks support, copied exactly"}
    else:
        del props["option_checks"]
    schema["required"] = list(props)
    return schema


def program_schema() -> dict:
    """The reply that writes a plan as a program: ``WriteProgram`` without the ``calls`` the
    agent fills in."""
    schema = reply_schema(WriteProgram)
    del schema["properties"]["calls"]
    schema["required"] = list(schema["properties"])
    return schema


def check_description() -> str:
    return FinalAnswer.model_fields["option_checks"].description or ""


@functools.lru_cache(maxsize=None)
def _reply_schema(model: type[BaseModel]) -> str:
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    return json.dumps(_reply_form(schema, defs))


def reply_schema(model: type[BaseModel]) -> dict:
    """The JSON schema a planner fills to produce ``model``: pydantic's schema with references
    inlined, ``title`` and ``default`` dropped and every property required (optional ones are
    nullable or may be written empty), so the same schema fits OpenAI's strict subset and a
    constrained decoder writes every field, in the model's field order. Field descriptions are
    kept; a model's own docstring is not. A fresh copy each call."""
    return json.loads(_reply_schema(model))


def _reply_form(schema: Any, defs: dict) -> Any:
    if isinstance(schema, list):
        return [_reply_form(s, defs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _reply_form({**defs[name], **{k: v for k, v in schema.items() if k != "$ref"}}, defs)
    out = {k: _reply_form(v, defs) for k, v in schema.items() if k not in ("title", "default")}
    if "properties" in out:
        out.pop("description", None)  # a model's docstring: for readers of the code, not the planner
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


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
    required (optional ones made nullable), ``_NOT_IN_STRICT`` keywords dropped, a tuple's
    ``prefixItems`` loosened to ``items`` of any of them. Pair with
    ``drop_unset_optionals`` on the way back so a tool still sees its defaults."""
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k not in _NOT_IN_STRICT}
    if "prefixItems" in out:  # not in the strict subset: any listed item anywhere (validated afterwards)
        out["items"] = {"anyOf": out.pop("prefixItems")}
    for key in ("anyOf", "oneOf", "allOf"):
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
