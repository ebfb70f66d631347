"""The dialect table and the schemas it sends: checked against a JSON-schema validator, so the
constraint accepts exactly the replies parse_action accepts."""

from __future__ import annotations

import json

import jsonschema
import pytest
from pydantic import ValidationError

from planners.base import EVIDENCE_MAX_ITEMS, THOUGHT_MAX_CHARS, FinalAnswer, parse_action
from planners.config import PlannerConfig
from planners.dialects import (
    DIALECTS,
    FINAL_ANSWER_TOOL,
    STRICT_ROOT_KEY,
    action_schema,
    answer_schema,
    drop_unset_optionals,
    get_dialect,
    reply_schema,
    response_format,
    strict_schema,
    tool_choice,
    tool_definitions,
    unsupported_reason,
    unwrap_strict_reply,
)
from tests.planners.chat_server import DETECT_PARAMS, sample_request
from tools.errors import ConfigError
from tools.types import Evidence

CALL = {"action": "call_tools", "thought": "look", "calls": [{"name": "detect_objects", "args": {"labels": ["bicycle"]}}]}
CHECKS = [{"option": "one", "fits": "no"}, {"option": "two", "fits": "yes"}, {"option": "three", "fits": "unclear"}]
EVIDENCE = [{"time_s": 1.2, "frame_index": 30, "box": [1, 2, 3, 4], "note": "bike"}]
ANSWER = {
    "action": "answer",
    "thought": "two seen",
    "option_checks": CHECKS,
    "answer": "two",
    "confidence": 0.8,
    "evidence": EVIDENCE,
}
OPEN_ANSWER = {"action": "answer", "thought": "two seen", "answer": "two bicycles", "confidence": 0.8, "evidence": EVIDENCE}


def accepts(schema: dict, obj: dict) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(obj)


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("vllm", {"type": "json_schema", "strict": True}),
        ("openai", {"type": "json_schema", "strict": True}),
        ("llamacpp", {"type": "json_object"}),
    ],
)
def test_response_format_shape(dialect, expected):
    fmt = response_format(DIALECTS[dialect], sample_request())
    assert fmt["type"] == expected["type"]
    if expected["type"] == "json_schema":
        assert set(fmt) == {"type", "json_schema"}
        assert fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["name"] == "planner_action"
        schema = fmt["json_schema"]["schema"]
    else:
        assert set(fmt) == {"type", "schema"}  # llama.cpp reads the schema next to json_object
        schema = fmt["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "guided_json" not in str(fmt)


def test_the_schema_accepts_what_parse_action_accepts():
    request = sample_request()
    schema = action_schema(request)
    for obj in (CALL, ANSWER):
        assert accepts(schema, obj)
        assert parse_action(obj, request)[1] is None


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ({**CALL, "calls": [{"name": "fly_drone", "args": {}}]}, "unknown tool"),
        ({**CALL, "calls": [{"name": "detect_objects", "args": {}}]}, "missing required argument"),
        ({**CALL, "calls": [{"name": "read_text", "args": {"labels": ["x"]}}]}, "another tool's arguments"),
        ({**CALL, "calls": []}, "no calls"),
        ({**ANSWER, "answer": "four"}, "not an option"),
        ({**ANSWER, "answer": "Two"}, "an option, but not copied exactly"),
        ({**ANSWER, "choice": 1}, "choice is derived from the answer, never written"),
        ({**ANSWER, "option_checks": CHECKS[:2]}, "an option left unchecked"),
        ({**ANSWER, "option_checks": [CHECKS[1], CHECKS[0], CHECKS[2]]}, "checks out of order"),
        ({**ANSWER, "option_checks": [{**CHECKS[0], "fits": "maybe"}, *CHECKS[1:]]}, "unknown fit"),
        ({**ANSWER, "confidence": 1.5}, "confidence above 1"),
        ({**ANSWER, "extra": 1}, "unknown field"),
        ({k: v for k, v in ANSWER.items() if k != "thought"}, "no thought"),
        ({**ANSWER, "evidence": [{"time_s": 1, "frame_index": None, "box": [1, 2, 3], "note": ""}]}, "3-number box"),
    ],
)
def test_the_schema_rejects(reply, why):
    assert not accepts(action_schema(sample_request()), reply), why


def test_an_open_question_takes_free_text_and_no_option_fields():
    schema = action_schema(sample_request(options=None))
    assert accepts(schema, OPEN_ANSWER)
    assert not accepts(schema, {**OPEN_ANSWER, "answer": ""})
    assert not accepts(schema, ANSWER)  # option_checks belong to multiple choice
    assert not accepts(schema, {**OPEN_ANSWER, "choice": None})


def test_a_multiple_choice_answer_is_an_option_checked_against_the_results_first():
    schema = answer_schema(sample_request(options=("a", "b")))
    assert schema["properties"]["answer"]["enum"] == ["a", "b"]
    assert list(schema["properties"]) == ["action", "thought", "option_checks", "answer", "confidence", "evidence"]
    checks = schema["properties"]["option_checks"]
    assert [item["properties"]["option"]["const"] for item in checks["prefixItems"]] == ["a", "b"]
    assert checks["minItems"] == checks["maxItems"] == 2
    reply = {**ANSWER, "option_checks": [{"option": "a", "fits": "no"}, {"option": "b", "fits": "yes"}], "answer": "b"}
    assert accepts(schema, reply)
    assert not accepts(schema, {**reply, "answer": "two"})


def test_options_that_read_the_same_are_answered_by_number_and_text():
    request = sample_request(options=("Red", "red!", "blue"))
    schema = answer_schema(request)
    assert schema["properties"]["answer"]["enum"] == ["0. Red", "1. red!", "2. blue"]
    checks = [{"option": v, "fits": f} for v, f in zip(schema["properties"]["answer"]["enum"], ("no", "yes", "no"))]
    reply = {**ANSWER, "option_checks": checks, "answer": "1. red!"}
    assert accepts(schema, reply)
    action, error = parse_action(reply, request)
    assert error is None and action.choice == 1


def test_the_answer_schema_is_derived_from_the_answer_model():
    """A field added to FinalAnswer or Evidence reaches the schema without touching dialects.py."""
    schema = answer_schema(sample_request(options=None))
    fields = [f for f in FinalAnswer.model_fields if f not in ("choice", "option_checks")]
    assert list(schema["properties"]) == fields
    assert schema["properties"]["evidence"]["items"] == reply_schema(Evidence)
    assert list(reply_schema(Evidence)["properties"]) == list(Evidence.model_fields)
    number = {"type": "number", "minimum": 0, "maximum": 1, "enum": [i / 10 for i in range(11)]}
    assert schema["properties"]["confidence"] == {"anyOf": [number, {"type": "null"}]}
    assert schema["properties"]["thought"]["maxLength"] == THOUGHT_MAX_CHARS
    assert schema["properties"]["evidence"]["maxItems"] == EVIDENCE_MAX_ITEMS
    assert "$ref" not in json.dumps(schema) and '"title"' not in json.dumps(schema)
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("options", [None, ("one", "two", "three")])
def test_llama_cpp_turns_the_answer_schema_into_a_grammar(options):
    """The schema is sent to llama.cpp as is: its converter must take every keyword we use
    (const, enum, prefixItems, anyOf) and keep the options as literal alternatives."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar = json_schema_to_gbnf(json.dumps(action_schema(sample_request(options=options))))
    assert "root ::=" in grammar
    for option in options or ():
        assert f'\\"{option}\\"' in grammar
    # A grammar cannot bound a number's value, so confidence is held to the enum of tenths.
    assert "\"0.7\"" in grammar and "\"1.0\"" in grammar


def test_must_answer_leaves_only_the_answer_branch():
    schema = action_schema(sample_request(must_answer=True))
    assert accepts(schema, ANSWER)
    assert not accepts(schema, CALL)


def test_unsupported_mode_is_refused_with_a_pointer_to_json_mode():
    assert unsupported_reason("llamacpp", "tools") is not None
    with pytest.raises(ConfigError, match="use mode 'json'"):
        get_dialect("llamacpp", "tools")
    with pytest.raises(ValidationError, match="use mode 'json'"):
        PlannerConfig(dialect="llamacpp", mode="tools")
    with pytest.raises(ConfigError, match="unknown planner dialect"):
        get_dialect("tgi", "json")
    assert all(unsupported_reason(d, "json") is None for d in DIALECTS)


@pytest.mark.parametrize("dialect", ["vllm", "openai"])
def test_tool_definitions_are_strict_and_end_with_final_answer(dialect):
    request = sample_request()
    tools = tool_definitions(DIALECTS[dialect], request, "Answer.")
    assert [t["function"]["name"] for t in tools] == ["detect_objects", "read_text", FINAL_ANSWER_TOOL]
    assert all(t["type"] == "function" and t["function"]["strict"] is True for t in tools)
    final = tools[-1]["function"]["parameters"]
    assert "action" not in final["properties"]
    assert accepts(final, {k: v for k, v in ANSWER.items() if k != "action"})
    assert tool_choice(DIALECTS[dialect], request) == "required"
    forced = tool_choice(DIALECTS[dialect], sample_request(must_answer=True))
    assert forced == {"type": "function", "function": {"name": FINAL_ANSWER_TOOL}}


def test_a_tool_named_final_answer_is_refused_in_tools_mode():
    request = sample_request()
    clash = request.model_copy(update={"tools": (request.tools[0].model_copy(update={"name": FINAL_ANSWER_TOOL}),)})
    with pytest.raises(ConfigError, match="final_answer"):
        tool_definitions(DIALECTS["vllm"], clash, "Answer.")


# --- OpenAI's strict subset --------------------------------------------------------------------


def _objects(schema):
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            yield schema
        for value in schema.values():
            yield from _objects(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _objects(item)


def test_openai_schemas_follow_the_strict_subset():
    fmt = response_format(DIALECTS["openai"], sample_request())
    schema = fmt["json_schema"]["schema"]
    assert schema["type"] == "object" and list(schema["properties"]) == [STRICT_ROOT_KEY]  # no union at the root
    for obj in _objects(schema):
        assert obj["additionalProperties"] is False
        assert set(obj["required"]) == set(obj["properties"])
    assert "default" not in str(schema) and "minLength" not in str(schema)
    for tool in tool_definitions(DIALECTS["openai"], sample_request(), "Answer."):
        for obj in _objects(tool["function"]["parameters"]):
            assert set(obj["required"]) == set(obj["properties"])


def test_strict_schema_makes_optionals_nullable_and_drop_unset_optionals_restores_defaults():
    strict = strict_schema(DETECT_PARAMS)
    assert strict["required"] == ["labels", "start_s", "end_s", "min_confidence"]
    assert strict["properties"]["start_s"] == {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}]}
    assert strict["properties"]["end_s"] == {"anyOf": [{"type": "number"}, {"type": "null"}]}  # already nullable
    reply = {"labels": ["car"], "start_s": None, "end_s": None, "min_confidence": 0.5}
    assert accepts(strict, reply)
    # start_s falls back to its default; end_s keeps the explicit null it accepts anyway
    assert drop_unset_optionals(reply, DETECT_PARAMS) == {"labels": ["car"], "end_s": None, "min_confidence": 0.5}


def test_unwrap_strict_reply():
    request = sample_request()
    wrapped = {STRICT_ROOT_KEY: {**CALL, "calls": [{"name": "detect_objects", "args": {"labels": ["x"], "start_s": None}}]}}
    assert unwrap_strict_reply(wrapped, request)["calls"] == [{"name": "detect_objects", "args": {"labels": ["x"]}}]
    assert unwrap_strict_reply(ANSWER, request) == ANSWER


def test_must_call_tools_leaves_only_the_call_branch():
    from planners.dialects import action_schema

    request = sample_request().model_copy(update={"must_call_tools": True})
    schema = action_schema(request)
    assert "anyOf" not in schema and schema["properties"]["action"]["const"] == "call_tools"
