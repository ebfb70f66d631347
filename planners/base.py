"""The planner protocol: what a planner is given each step and what it must return.

A planner sees the question, the tools (names, descriptions, argument schemas) and the
history of its own actions with the observations they produced. It returns one action:
call some tools, or answer. Replies that do not validate are returned with ``error`` set and
the agent sends them back once with that error (``PlannerInput.feedback``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Protocol, Union, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tools.types import Evidence, Observation, ToolCall, ToolSpec, VideoMeta


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallTools(_Frozen):
    """Run these tool calls (independent of each other; they may run concurrently)."""

    action: Literal["call_tools"] = "call_tools"
    thought: Thought = ""
    calls: tuple[ToolCall, ...] = Field(min_length=1)


OptionFit = Literal["yes", "no", "unclear"]

#: Bounds written into the reply schema only, where a constrained decoder (llama.cpp's grammar,
#: vLLM's xgrammar) enforces them; replies are not rejected for exceeding them. They keep a small
#: model from looping inside one field until it hits ``max_tokens`` (measured: SmolLM2 under
#: vLLM spent 400 tokens on a thought and repeated evidence items). The thought is short because
#: every token of it is decoded at 3-10 tokens/s on 2 CPU cores, and a 1.5B planner's thought was
#: mostly the question restated ("To answer this question, I will use the detect_shots tool.").
THOUGHT_MAX_CHARS = 160
ANSWER_MAX_CHARS = 300
EVIDENCE_MAX_ITEMS = 3
#: Confidence is written as one of these tenths: a grammar cannot bound a JSON number's value
#: (llama.cpp let SmolLM2 write 3.5), but it can hold it to an enum.
CONFIDENCE_LEVELS = tuple(round(i / 10, 1) for i in range(11))

Thought = Annotated[str, Field(json_schema_extra={"maxLength": THOUGHT_MAX_CHARS})]


class OptionCheck(_Frozen):
    """One option of a multiple-choice question read against the tool results, before choosing."""

    option: str = Field(description="the option's text, copied exactly")
    fits: OptionFit = Field(description="yes: the tool results support it; no: they rule it out; unclear: neither")


class FinalAnswer(_Frozen):
    """The planner's answer.

    For a multiple-choice question ``answer`` is one option's text (or its number and text,
    ``"2. red"``); ``choice``, the 0-based index of that option, is derived from it, and a
    ``choice`` that names another option is rejected. ``option_checks`` lists every option in
    order with whether the tool results support it; it is written before ``answer`` (field order
    is the order a constrained decoder writes them), so the choice follows the evidence.
    Reply schemas are derived from this model (``planners.dialects``).
    """

    action: Literal["answer"] = "answer"
    thought: Thought = ""
    option_checks: tuple[OptionCheck, ...] = Field(
        default=(), description="multiple choice only: every option, in order, checked against the tool results"
    )
    answer: str = Field(min_length=1, json_schema_extra={"maxLength": ANSWER_MAX_CHARS})
    choice: int | None = Field(default=None, ge=0, description="0-based index of the option the answer names")
    confidence: Annotated[float, Field(ge=0, le=1, json_schema_extra={"enum": list(CONFIDENCE_LEVELS)})] | None = None
    evidence: tuple[Evidence, ...] = Field(
        default=(), description="where in the video the answer is seen",
        json_schema_extra={"maxItems": EVIDENCE_MAX_ITEMS},
    )


#: Longest program a planner may write in one reply (``planning = "program"``).
PROGRAM_MAX_CHARS = 600


class WriteProgram(_Frozen):
    """A plan written once as a short Python program over the tools (``planners.program`` runs it
    in a restricted interpreter). The planner writes ``thought`` and ``program``; ``calls`` are
    the tool calls the program made, filled in by the agent once it has run, in the order of
    the observations that follow it in the history."""

    action: Literal["program"] = "program"
    thought: Thought = ""
    program: str = Field(min_length=1, json_schema_extra={"maxLength": PROGRAM_MAX_CHARS})
    calls: tuple[ToolCall, ...] = ()


PlannerAction = Annotated[Union[CallTools, FinalAnswer], Field(discriminator="action")]
ACTION_ADAPTER: TypeAdapter = TypeAdapter(PlannerAction)
PROGRAM_ADAPTER: TypeAdapter = TypeAdapter(WriteProgram)
#: What a history step holds: a reply of the JSON loop, or a program that ran.
StepAction = Annotated[Union[CallTools, FinalAnswer, WriteProgram], Field(discriminator="action")]
STEP_ADAPTER: TypeAdapter = TypeAdapter(StepAction)

PlanningStyle = Literal["loop", "program"]
NOT_A_PROGRAM = "write a JSON action (call_tools or answer), not a program"
WRITE_A_PROGRAM = 'write your plan as a program: {"action": "program", "thought": "...", "program": "..."}'


class HistoryStep(_Frozen):
    """One earlier step: the planner's action and, for tool calls, what came back."""

    action: StepAction
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
    option_scores: tuple[float, ...] | None = Field(
        default=None,
        description="multiple choice: how closely each option matches what the tools found so far (text "
        "similarity to their evidence notes, 0-1), a hint shown to the planner, never used to choose",
    )
    planning: PlanningStyle = Field(
        default="loop", description="program: the planner was told it writes its plan once as a program"
    )
    write_program: bool = Field(default=False, description="this reply must be a program (WriteProgram)")


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

    action: PlannerAction | WriteProgram | None = None
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
    """Check an action against the request: known tools, an answer that fits the question,
    answer only when allowed.

    Returns the reason it is invalid, or None. Argument schemas are checked by the tools
    themselves (a bad argument is a ``retry`` observation, not an unparsed reply).
    """
    return settle_action(action, request)[1]


def settle_action(action: Any, request: PlannerInput) -> tuple[PlannerAction | None, str | None]:
    """Validate ``action`` and settle a multiple-choice answer: (action, None) or (None, error).

    A multiple-choice answer comes back with ``choice`` derived from the option its text names
    and, when it carries ``option_checks``, ``confidence`` capped at 1/k, where k is the number
    of options the checks leave open: those checked ``yes``, else those not checked ``no``, else
    all. An answer that tool results marked as ruling out its own option is rejected.
    """
    if isinstance(action, WriteProgram):
        if not request.write_program:
            return None, NOT_A_PROGRAM
        if action.calls:
            return None, "write only 'thought' and 'program'"
        return action, None
    if request.write_program:
        return None, WRITE_A_PROGRAM
    if isinstance(action, CallTools):
        if request.must_answer:
            return None, "the budget is exhausted: answer now with action 'answer'; no more tool calls"
        known = {t.name for t in request.tools}
        bad = [c.name for c in action.calls if c.name not in known]
        if bad:
            return None, f"unknown tool(s) {', '.join(bad)}; available: {', '.join(sorted(known))}"
        return action, None
    if isinstance(action, FinalAnswer):
        if request.must_call_tools and not request.must_answer:
            return None, "call at least one tool before answering: use action 'call_tools'"
        if request.options:
            return settle_choice(action, request.options)
        if action.choice is not None:
            return None, "this question has no options: leave 'choice' out"
        if action.option_checks:
            return None, "this question has no options: leave 'option_checks' out"
        return action, None
    return None, f"unknown action {type(action).__name__}"


def settle_choice(answer: FinalAnswer, options: Sequence[str]) -> tuple[FinalAnswer | None, str | None]:
    """``answer`` with ``choice`` derived from its text (see ``settle_action``), or the reason
    it cannot stand."""
    n = len(options)
    if answer.choice is not None and answer.choice >= n:
        return None, f"choice {answer.choice} is out of range 0-{n - 1}"
    named = option_named(answer.answer, options)
    if named is None:
        return None, f"'answer' must be one of the options, copied exactly ({_quoted(options)}); got {_clip(answer.answer)!r}"
    if answer.choice is not None and answer.choice != named:
        return None, (
            f"'answer' is option {named} ({options[named]!r}) but 'choice' is {answer.choice} "
            f"({options[answer.choice]!r}); they must name the same option"
        )
    update: dict[str, Any] = {"choice": named}
    if answer.option_checks:
        checks = answer.option_checks
        if len(checks) != n or any(option_named(c.option, options) != i for i, c in enumerate(checks)):
            return None, f"'option_checks' must list every option once, in order: {_quoted(options)}"
        open_ = open_options(checks)
        if named not in open_:
            return None, (
                f"you checked the chosen option {options[named]!r} as {checks[named].fits!r} against the tool results, "
                f"but {_quoted([options[i] for i in open_])} as more likely; answer with an option your checks support "
                "or correct the checks"
            )
        cap = 1.0 / len(open_)
        update["confidence"] = cap if answer.confidence is None else min(answer.confidence, cap)
    return answer.model_copy(update=update), None


def open_options(checks: Sequence[OptionCheck]) -> list[int]:
    """Indices of the options the checks leave open: those that fit, else those not ruled out,
    else all of them."""
    for keep in (lambda c: c.fits == "yes", lambda c: c.fits != "no"):
        kept = [i for i, c in enumerate(checks) if keep(c)]
        if kept:
            return kept
    return list(range(len(checks)))


_NUMBERED = re.compile(r"^\s*\(?(\d+)\s*[.):\-]\s*(.+)$", re.DOTALL)
_NON_WORD = re.compile(r"[\W_]+")


def _option_key(text: str) -> str:
    """Case, spacing and punctuation removed: how option texts are compared."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def option_named(text: str, options: Sequence[str]) -> int | None:
    """The index of the option ``text`` names, or None when it names none or several.

    ``text`` is the option's own text, or its 0-based number and text (``"2. red"``,
    ``"2) red"``, ``"2: red"``), compared without case, spacing or punctuation. A bare number
    is an option's text, never an index (``"2"`` names the option ``"2"``).

    >>> option_named("The red one.", ["blue", "the red one"]), option_named("1. red", ["red", "red"])
    (1, 1)
    """
    key = _option_key(text)
    hits = [i for i, option in enumerate(options) if _option_key(option) == key]
    if len(hits) == 1:
        return hits[0]
    match = _NUMBERED.match(text)
    if match:
        i = int(match.group(1))
        if i < len(options) and _option_key(match.group(2)) == _option_key(options[i]):
            return i
    return None


def option_values(options: Sequence[str]) -> list[str]:
    """What an answer to these options may say: each option's text, or ``"N. text"`` for every
    option when two texts are the same after ``option_named``'s comparison."""
    keys = [_option_key(o) for o in options]
    if len(set(keys)) == len(keys):
        return list(options)
    return [f"{i}. {o}" for i, o in enumerate(options)]


def _quoted(texts: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(_clip(t)) for t in texts[:limit])
    return shown + (f" and {len(texts) - limit} more" if len(texts) > limit else "")


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_action(raw: str | dict, request: PlannerInput) -> tuple[PlannerAction | None, str | None]:
    """Parse a planner's JSON reply into an action. Returns (action, None) or (None, error)."""
    try:
        # strict=False: a raw newline or tab inside a string (a program's lines, as a 1.5B model
        # wrote them under llama.cpp's grammar) is read as that character, not refused
        obj = json.loads(raw, strict=False) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        snippet = raw[:120].replace("\n", " ")
        return None, f"the reply is not valid JSON ({exc.msg} at position {exc.pos}): {snippet!r}"
    obj = without_unordered_boxes(obj)
    wrote_program = isinstance(obj, dict) and obj.get("action") == "program"
    if request.write_program != wrote_program:
        return None, WRITE_A_PROGRAM if request.write_program else NOT_A_PROGRAM
    try:
        action = PROGRAM_ADAPTER.validate_python(obj) if request.write_program else ACTION_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        return None, "the reply does not match the action schema: " + _short_errors(exc)
    return settle_action(action, request)


def without_unordered_boxes(obj: Any) -> Any:
    """An answer whose evidence cites a box written out of order (x2 < x1 or y2 < y1) keeps the
    evidence without that box: the box says nothing about where, and rejecting the whole answer
    for it lost answers (a 1.5B planner copied the same bad box into both forced-answer tries)."""
    if not (isinstance(obj, dict) and obj.get("action") == "answer" and isinstance(obj.get("evidence"), list)):
        return obj
    evidence = [
        {**item, "box": None} if isinstance(item, dict) and _unordered_box(item.get("box")) else item
        for item in obj["evidence"]
    ]
    return {**obj, "evidence": evidence}


def _unordered_box(box: Any) -> bool:
    if not (isinstance(box, (list, tuple)) and len(box) == 4):
        return False
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        return False
    return box[2] < box[0] or box[3] < box[1]


def _short_errors(exc: ValidationError, limit: int = 4) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(x) for x in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
