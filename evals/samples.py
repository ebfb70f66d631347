"""What an evaluation suite loads (``Sample``) and what scoring one answer gives (``SampleScore``).

Both are frozen pydantic models, so a run can be written to JSON lines and read back as-is.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.types import Trace
from tools.types import TimeSpan

ScoreStatus = Literal["answered", "unparsed", "budget_exhausted", "error"]
"""The agent's ``Answer.status``; ``error`` also marks a sample whose video was not found."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Sample(_Frozen):
    """One benchmark question.

    ``answer`` is the 0-based option index for multiple choice (``options`` is set), the
    reference text for open-ended questions, or an int for numeric (count) questions.
    ``qtype`` is the benchmark's own question-type code (e.g. NExT-QA ``CW``).
    ``gt_spans`` are the ground-truth time spans (seconds) that support the answer, where the
    benchmark has them (NExT-GQA); a question may have several.
    ``video_path`` is None when the video was not found under the videos directory.
    """

    suite: str
    sample_id: str = Field(description="unique within the suite")
    video_id: str
    video_path: str | None = None
    question: str
    options: tuple[str, ...] | None = None
    answer: int | str
    qtype: str = ""
    gt_spans: tuple[TimeSpan, ...] = ()
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _answer_fits(self) -> "Sample":
        if self.options is not None:
            if not isinstance(self.answer, int) or not 0 <= self.answer < len(self.options):
                raise ValueError(
                    f"{self.sample_id}: answer {self.answer!r} is not an index into {len(self.options)} options"
                )
        return self

    @property
    def is_multiple_choice(self) -> bool:
        return self.options is not None

    @property
    def answer_text(self) -> str:
        """The reference answer as text (the chosen option's text for multiple choice)."""
        if self.options is not None:
            return self.options[int(self.answer)]
        return str(self.answer)


class SampleCost(_Frozen):
    """What answering one question cost, copied from the agent's ``Trace.totals``."""

    steps: int = 0
    tool_calls: int = 0
    invalid_tool_calls: int = 0
    frames_decoded: int = 0
    frames_through_models: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_seconds: float = 0.0
    cache_hits: int = 0

    @classmethod
    def from_trace(cls, trace: Trace) -> "SampleCost":
        t = trace.totals
        return cls(
            steps=t.steps,
            tool_calls=t.tool_calls,
            invalid_tool_calls=t.invalid_tool_calls,
            frames_decoded=t.frames_decoded,
            frames_through_models=t.frames_through_models,
            prompt_tokens=t.prompt_tokens,
            completion_tokens=t.completion_tokens,
            wall_seconds=t.wall_seconds,
            cache_hits=t.cache_hits,
        )


class Grounding(_Frozen):
    """Temporal grounding of one answer against the sample's ``gt_spans``.

    ``iou`` / ``iop``: the best intersection over union / intersection over the *predicted*
    span across the ground-truth spans, each in [0, 1] (see ``evals.suites.nextgqa``).
    ``pred_span`` is None when the answer gave no span; both scores are then 0.
    """

    iou: float = Field(ge=0, le=1)
    iop: float = Field(ge=0, le=1)
    pred_span: TimeSpan | None = None


class SampleScore(_Frozen):
    """The verdict on one answer.

    ``correct`` is None when the answer was not scored (status other than ``answered``):
    an unparsed or missing answer is never treated as a guess, but counts as wrong in
    accuracy over all samples. ``prediction`` is what was compared with the reference
    (option index as text, normalised text, or number), for reports.
    ``cost`` is None when the agent never ran (missing video).
    """

    suite: str
    sample_id: str
    qtype: str = ""
    status: ScoreStatus
    correct: bool | None
    prediction: str | None = None
    reference: str = ""
    error: str | None = None
    grounding: Grounding | None = None
    squared_error: float | None = Field(default=None, description="count questions: (prediction - answer)^2")
    cost: SampleCost | None = None

    @model_validator(mode="after")
    def _scored_iff_answered(self) -> "SampleScore":
        if (self.status == "answered") != (self.correct is not None):
            raise ValueError(f"{self.sample_id}: correct must be set exactly when status is 'answered'")
        return self

    @property
    def counts_as_correct(self) -> bool:
        """True only for a scored, correct answer (None counts as wrong)."""
        return self.correct is True

    def to_row(self) -> dict[str, Any]:
        """A flat dict for CSV or table output.

        Grounding becomes ``iou``, ``iop``, ``pred_start_s``, ``pred_end_s`` and cost its own
        field names (see ``SampleCost``); absent values are None.
        """
        row: dict[str, Any] = self.model_dump(exclude={"grounding", "cost"})
        g = self.grounding
        span = g.pred_span if g else None
        row.update(
            iou=g.iou if g else None,
            iop=g.iop if g else None,
            pred_start_s=span.start_s if span else None,
            pred_end_s=span.end_s if span else None,
        )
        row.update({f: getattr(self.cost, f) if self.cost else None for f in SampleCost.model_fields})
        return row

    @classmethod
    def missing_video(cls, sample: Sample, message: str | None = None) -> "SampleScore":
        """The error row for a sample whose video could not be found or opened."""
        return cls(
            suite=sample.suite,
            sample_id=sample.sample_id,
            qtype=sample.qtype,
            status="error",
            correct=None,
            reference=sample.answer_text,
            error=message or f"video {sample.video_id!r} not found",
            grounding=Grounding(iou=0.0, iop=0.0) if sample.gt_spans else None,
        )
