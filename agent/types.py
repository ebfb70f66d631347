"""What a run of the agent produces: an Answer with its evidence and a Trace of every step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.types import Evidence

AnswerStatus = Literal["answered", "unparsed", "budget_exhausted", "error"]


class ToolCallRecord(BaseModel):
    """One tool call as the trace keeps it (no arrays: observation text and counters only)."""

    model_config = ConfigDict(extra="forbid")

    call_id: str
    name: str
    args: dict[str, Any]
    backend: str = ""
    status: Literal["ok", "retry", "error"]
    observation: str
    seconds: float
    cache_hit: bool = False
    nested_cache_hits: int = 0
    frames_decoded: int = 0
    model_frames: dict[str, int] = Field(default_factory=dict)


class TraceStep(BaseModel):
    """One planner turn and the tool calls it asked for.

    ``kind``: ``plan`` (a normal turn), ``retry`` (the turn after a rejected reply),
    ``forced_answer`` (the one answer-only turn after a budget ran out), ``program`` (the turn
    that writes the plan as a program, ``planning = "program"``; its tool calls are the ones the
    program made). ``images``: frames sent to a vision-capable planner this turn,
    ``image_frames`` their indices and ``image_pixels`` their pixels summed (width x height as
    sent); their token cost is part of ``prompt_tokens``.
    """

    model_config = ConfigDict(extra="forbid")

    index: int
    kind: Literal["plan", "retry", "forced_answer", "program"] = "plan"
    action: Literal["call_tools", "answer", "program", "invalid", "planner_error"]
    thought: str = ""
    raw: str = Field(default="", description="the planner's raw reply (truncated to 4000 chars)")
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    images: int = 0
    image_frames: list[int] = Field(default_factory=list)
    image_pixels: int = 0
    planner_seconds: float = 0.0
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    tools_seconds: float = 0.0
    option_scores: list[float] | None = Field(
        default=None, description="multiple choice: the option-score hint shown this turn, one per option"
    )


class TraceTotals(BaseModel):
    steps: int = 0
    tool_calls: int = 0
    invalid_tool_calls: int = Field(default=0, description="calls that came back 'retry' (bad arguments or unknown tool)")
    tool_errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    images: int = Field(default=0, description="frames sent to the planner, all steps")
    image_pixels: int = 0
    frames_decoded: int = 0
    model_frames: dict[str, int] = Field(default_factory=dict, description="frames run through each model")
    cache_hits: int = 0
    planner_seconds: float = 0.0
    tools_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def frames_through_models(self) -> int:
        return sum(self.model_frames.values())


class Trace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    video_path: str
    video_sha256: str = ""
    question: str
    options: list[str] | None = None
    planner: str = ""
    profile: str = ""
    steps: list[TraceStep] = Field(default_factory=list)
    totals: TraceTotals = Field(default_factory=TraceTotals)
    budget_hit: str | None = Field(
        default=None,
        description="which budget ran out, if any: steps, tool_calls, seconds, or repeated_calls (a step "
                    "that only repeated earlier calls)",
    )

    def recompute_totals(self, wall_seconds: float, frames_decoded: int) -> None:
        t = TraceTotals(wall_seconds=wall_seconds, frames_decoded=frames_decoded, steps=len(self.steps))
        for step in self.steps:
            t.prompt_tokens += step.prompt_tokens
            t.completion_tokens += step.completion_tokens
            t.cached_prompt_tokens += step.cached_prompt_tokens
            t.images += step.images
            t.image_pixels += step.image_pixels
            t.planner_seconds += step.planner_seconds
            t.tools_seconds += step.tools_seconds
            for call in step.tool_calls:
                t.tool_calls += 1
                t.invalid_tool_calls += call.status == "retry"
                t.tool_errors += call.status == "error"
                t.cache_hits += call.cache_hit + call.nested_cache_hits
                for model, n in call.model_frames.items():
                    t.model_frames[model] = t.model_frames.get(model, 0) + n
        self.totals = t

    def write_jsonl(self, path: str | Path) -> None:
        """Append one line per step, then a totals line, to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            for step in self.steps:
                fh.write(json.dumps({"run_id": self.run_id, "type": "step", **step.model_dump()}) + "\n")
            fh.write(json.dumps({"run_id": self.run_id, "type": "totals", "budget_hit": self.budget_hit,
                                 **self.totals.model_dump()}) + "\n")


class Answer(BaseModel):
    """The agent's answer to one question.

    ``status``: ``answered``; ``unparsed`` (the planner's reply failed validation twice: no
    answer is guessed); ``budget_exhausted`` (a budget ran out and the forced answer turn gave
    no valid answer); ``error`` (the planner could not be reached, or the run crashed).
    ``choice`` is the 0-based option index for multiple-choice questions, else None; it is the
    option the answer's text names. ``confidence`` of a multiple-choice answer is at most 1/k
    when the planner's option checks left k options open (1/len(options) when nothing in the
    tool results told the options apart): a low value says the choice is close to a guess.
    """

    model_config = ConfigDict(extra="forbid")

    text: str
    choice: int | None = None
    confidence: float | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    status: AnswerStatus
    error: str | None = None
    trace: Trace

    def to_json_dict(self) -> dict[str, Any]:
        """The CLI's ``--json`` object."""
        return {
            "answer": self.text,
            "choice": self.choice,
            "confidence": self.confidence,
            "status": self.status,
            "error": self.error,
            "evidence": [e.model_dump() for e in self.evidence],
            "trace": self.trace.model_dump(),
        }
