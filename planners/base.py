"""The planner protocol: what a planner is given each step and what it must return.

A planner sees the question, the tools (names, descriptions, argument schemas) and the
history of its own actions with the observations they produced. It returns one action:
call some tools, or answer. Replies that do not validate are returned with ``error`` set and
the agent sends them back once with that error (``PlannerInput.feedback``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Protocol, Union, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tools.types import Evidence, Observation, ToolCall, ToolSpec, VideoMeta


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallTools(_Frozen):
    """Run these tool calls (independent of each other; they may run concurrently)."""

    action: Literal["call_tools"] = "call_tools"
    thought: str = ""
    calls: tuple[ToolCall, ...] = Field(min_length=1)


class FinalAnswer(_Frozen):
    """The planner's answer. ``choice`` is the 0-based option index for multiple choice."""

    action: Literal["answer"] = "answer"
    thought: str = ""
    answer: str = Field(min_length=1)
    choice: int | None = Field(default=None, ge=0)
    confidence: float | None = Field(default=None, ge=0, le=1)
    evidence: tuple[Evidence, ...] = ()


PlannerAction = Annotated[Union[CallTools, FinalAnswer], Field(discriminator="action")]
ACTION_ADAPTER: TypeAdapter = TypeAdapter(PlannerAction)


class HistoryStep(_Frozen):
    """One earlier step: the planner's action and, for tool calls, what came back."""

    action: PlannerAction
    observations: tuple[Observation, ...] = ()


class ImagePart(_Frozen):
    """A frame attached for a vision-capable planner: JPEG bytes, base64, with its time."""

    time_s: float
    frame_index: int
    jpeg_b64: str
    width: int
    height: int


class PlannerInput(_Frozen):
    question: str
    options: tuple[str, ...] | None = None
    video: VideoMeta
    tools: tuple[ToolSpec, ...]
    history: tuple[HistoryStep, ...] = ()
    feedback: str | None = Field(default=None, description="why the previous reply was rejected")
    must_answer: bool = Field(default=False, description="budget exhausted: only an answer is accepted")
    must_call_tools: bool = Field(
        default=False, description="no answer is accepted yet: the planner must gather evidence with tools first"
    )
    images: tuple[ImagePart, ...] = ()


class TokenUsage(_Frozen):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0

    def __add__(self, other: "TokenUsage") -> "TokenUsage":
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
        )


class PlannerReply(BaseModel):
    """``action`` is set when the reply validated; otherwise ``error`` says why not."""

    model_config = ConfigDict(frozen=True)

    action: PlannerAction | None = None
    error: str | None = None
    raw: str = ""
    usage: TokenUsage = TokenUsage()
    seconds: float = 0.0
    model: str = ""


class PlannerError(Exception):
    """The planner could not be asked at all (server down, HTTP error after retries)."""


@runtime_checkable
class Planner(Protocol):
    """``vision_limits`` (a ``planners.config.VisionLimits``) tells the agent whether to attach
    frames, how many and how large; planners that cannot see images report it disabled."""

    name: str
    vision_limits: Any

    def plan(self, request: PlannerInput) -> PlannerReply:
        """Return the next action. Raise PlannerError only when no reply could be had."""
        ...


def validate_action(action: Any, request: PlannerInput) -> str | None:
    """Check an action against the request: known tools, choice in range, answer when forced.

    Returns the reason it is invalid, or None. Argument schemas are checked by the tools
    themselves (a bad argument is a ``retry`` observation, not an unparsed reply).
    """
    if isinstance(action, CallTools):
        if request.must_answer:
            return "the budget is exhausted: answer now with action 'answer'; no more tool calls"
        known = {t.name for t in request.tools}
        bad = [c.name for c in action.calls if c.name not in known]
        if bad:
            return f"unknown tool(s) {', '.join(bad)}; available: {', '.join(sorted(known))}"
    elif isinstance(action, FinalAnswer):
        if request.must_call_tools and not request.must_answer:
            return "call at least one tool before answering: use action 'call_tools'"
        if request.options:
            if action.choice is None:
                return f"this is a multiple-choice question: set 'choice' to an option index 0-{len(request.options) - 1}"
            if action.choice >= len(request.options):
                return f"choice {action.choice} is out of range 0-{len(request.options) - 1}"
        elif action.choice is not None:
            return "this question has no options: leave 'choice' null"
    return None


def parse_action(raw: str | dict, request: PlannerInput) -> tuple[PlannerAction | None, str | None]:
    """Parse a planner's JSON reply into an action. Returns (action, None) or (None, error)."""
    try:
        obj = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        snippet = raw[:120].replace("\n", " ")
        return None, f"the reply is not valid JSON ({exc.msg} at position {exc.pos}): {snippet!r}"
    try:
        action = ACTION_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        return None, "the reply does not match the action schema: " + _short_errors(exc)
    error = validate_action(action, request)
    return (None, error) if error else (action, None)


def _short_errors(exc: ValidationError, limit: int = 4) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(x) for x in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
