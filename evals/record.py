"""Record every planner reply and tool result of a run, and replay them without models.

Recording (``--record``) wraps the sample's planner in a ``RecordingPlanner`` (each reply:
the validated action, raw text, token usage, plus what the planner was shown, for replay
checks) and gives the agent a ``recording_toolset`` whose backends keep the outputs they
compute. After the sample, ``build_recording`` turns the trace's tool calls into
``RecordedToolResult`` objects: status, observation, evidence and ``data``, encoded with
``tools.serialization`` (JSON plus a base64 ``.npz`` blob, no pickle). Outputs served from the
result cache are read back from it.

Replay (``--replay runs/NAME``) runs the real agent loop (budgets, validation, evidence
selection, scoring) with a ``ReplayPlanner`` that returns the recorded replies in order and a
``replay_toolset``: the pipeline's tools with the same names and argument schemas, whose
backends return the recorded output for the same tool and arguments (first recorded, first
served). No model is loaded and no frame decoded (the replay planner asks for no images).

A replay never answers a conversation that was not recorded: before each reply the replay
planner checks that it is shown what the recorded planner was shown (the video's sha256,
history length, feedback, forced-answer flag, and the latest observations: call ids, tools,
statuses, and for ``ok``/``retry`` their text and evidence). A difference raises
``PlannerError("replay diverged ...")``, so the sample's status is ``error`` with that reason.
Error observations are compared by status only: a tool the runner abandoned at its time
limit cannot be made to time out again without waiting.
"""

from __future__ import annotations

import base64
import dataclasses
import threading
from collections import defaultdict, deque
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.types import Answer
from planners.base import STEP_ADAPTER, Planner, PlannerError, PlannerInput, PlannerReply, TokenUsage
from planners.config import VisionLimits
from tools.cache import ResultCache, canonical_json
from tools.errors import ToolRetry, ToolTimeout, VidagentError
from tools.registry import ToolBackend, ToolSet
from tools.runner import cache_key
from tools.serialization import SerializationError, decode_output, encode_output
from tools.types import Observation, ToolOutput

#: Version of the recording line layout; replay refuses other versions.
RECORDING_FORMAT = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordedTurn(_Model):
    """One planner call: its reply (or the PlannerError it raised) and what it was shown.

    ``action`` is the validated action in JSON form (None when the reply did not validate;
    ``error`` then says why). ``seen`` are the observations of the newest history step in
    the request (empty on the first turn; a retry turn sees the same step again).
    """

    action: dict[str, Any] | None = None
    error: str | None = None
    raw: str = ""
    usage: TokenUsage = TokenUsage()
    seconds: float = 0.0
    model: str = ""
    planner_error: str | None = Field(default=None, description="the planner raised: no reply could be had")
    history_len: int = 0
    feedback: str | None = None
    must_answer: bool = False
    seen: tuple[Observation, ...] = ()

    def reply(self) -> PlannerReply:
        action = STEP_ADAPTER.validate_python(self.action) if self.action is not None else None
        return PlannerReply(action=action, error=self.error, raw=self.raw, usage=self.usage,
                            seconds=self.seconds, model=self.model)


class RecordedToolResult(_Model):
    """One top-level tool call's result.

    ``key`` is the canonical JSON of the validated arguments (what replay matches on); calls
    whose arguments did not validate are not recorded (the runner rejects them again).
    ``output_json`` / ``arrays_b64``: ``tools.serialization.encode_output`` of the observation,
    evidence and data. ``data_note`` says why ``data`` is absent when the tool returned some.
    """

    call_id: str
    name: str
    args: dict[str, Any]
    key: str
    status: str
    output_json: str
    arrays_b64: str = ""
    data_note: str | None = None

    def output(self, backend: ToolBackend) -> ToolOutput:
        return decode_output(self.output_json, base64.b64decode(self.arrays_b64), backend.result_model)


class SampleRecording(_Model):
    """Everything replay needs for one sample: planner turns and tool results, in order."""

    format: int = RECORDING_FORMAT
    suite: str
    sample_id: str
    video_sha256: str
    planner_name: str
    turns: tuple[RecordedTurn, ...]
    tool_results: tuple[RecordedToolResult, ...]


# -- recording -------------------------------------------------------------------------------


class RecordingPlanner:
    """Passes each request to ``inner`` and keeps the reply as a RecordedTurn."""

    def __init__(self, inner: Planner):
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        self.vision_limits = getattr(inner, "vision_limits", VisionLimits())
        self.turns: list[RecordedTurn] = []

    def plan(self, request: PlannerInput) -> PlannerReply:
        shown = _shown(request)
        try:
            reply = self.inner.plan(request)
        except Exception as exc:
            self.turns.append(RecordedTurn(planner_error=str(exc), **shown))
            raise
        self.turns.append(RecordedTurn(
            action=reply.action.model_dump(mode="json") if reply.action is not None else None,
            error=reply.error, raw=reply.raw, usage=reply.usage, seconds=reply.seconds, model=reply.model, **shown,
        ))
        return reply


def _shown(request: PlannerInput) -> dict[str, Any]:
    return {
        "history_len": len(request.history),
        "feedback": request.feedback,
        "must_answer": request.must_answer,
        "seen": request.history[-1].observations if request.history else (),
    }


class OutputCapture:
    """Tool outputs computed during a sample, by (video sha256, tool, canonical arguments).

    Thread-safe: a step's tool calls run in threads.
    """

    def __init__(self) -> None:
        self._outputs: dict[tuple[str, str, str], ToolOutput] = {}
        self._lock = threading.Lock()

    def put(self, video_sha256: str, tool: str, key: str, output: ToolOutput) -> None:
        with self._lock:
            self._outputs[(video_sha256, tool, key)] = output

    def get(self, video_sha256: str, tool: str, key: str) -> ToolOutput | None:
        with self._lock:
            return self._outputs.get((video_sha256, tool, key))

    def clear(self) -> None:
        with self._lock:
            self._outputs.clear()


def recording_toolset(toolset: ToolSet, capture: OutputCapture) -> ToolSet:
    """``toolset`` with every backend also handing its computed output to ``capture``.

    Names, argument models, versions and cache behaviour are unchanged, so the planner sees
    the same tools and the runner uses the same cache keys.
    """

    def capturing(backend: ToolBackend):
        def fn(args, ctx):
            output = backend.fn(args, ctx)
            if isinstance(output, ToolOutput):
                capture.put(ctx.meta.sha256, backend.name, canonical_json(args.model_dump(mode="json")), output)
            return output

        return fn

    return dataclasses.replace(toolset, backends={n: dataclasses.replace(b, fn=capturing(b))
                                                  for n, b in toolset.backends.items()})


def build_recording(
    *,
    suite: str,
    sample_id: str,
    answer: Answer,
    planner: RecordingPlanner,
    capture: OutputCapture,
    toolset: ToolSet,
    cache: ResultCache | None,
) -> SampleRecording:
    """The recording of one answered sample (``toolset``: the pipeline's real tools)."""
    trace = answer.trace
    seen = {obs.call_id: obs for turn in planner.turns for obs in turn.seen}
    results: list[RecordedToolResult] = []
    for step in trace.steps:
        for call in step.tool_calls:
            backend = toolset.get(call.name)
            if backend is None:
                continue
            try:
                args = backend.args_model.model_validate(call.args)
            except ValidationError:
                continue
            key = canonical_json(args.model_dump(mode="json"))
            data, note = None, None
            output = capture.get(trace.video_sha256, call.name, key) if call.status == "ok" else None
            if output is None and call.status == "ok" and cache is not None and backend.cacheable:
                try:
                    output = cache.get(cache_key(trace.video_sha256, backend, toolset, args), backend.result_model)
                except Exception as exc:  # a cache problem costs the data, never the sample
                    note = f"the cached output could not be read: {exc}"
            if call.status == "ok":
                data = output.data if output is not None else None
                if output is None and note is None:
                    note = "the output was neither computed in this sample nor found in the cache"
            observation = seen.get(call.call_id)
            evidence = list(observation.evidence) if observation else (list(output.evidence) if output else [])
            stored = ToolOutput(observation=call.observation, data=data, evidence=evidence)
            try:
                text, blob = encode_output(stored, backend.result_model)
            except SerializationError as exc:
                text, blob = encode_output(stored.model_copy(update={"data": None}))
                note = f"data not stored: {exc}"
            results.append(RecordedToolResult(
                call_id=call.call_id, name=call.name, args=call.args, key=key, status=call.status,
                output_json=text, arrays_b64=base64.b64encode(blob).decode("ascii"), data_note=note,
            ))
    return SampleRecording(
        suite=suite, sample_id=sample_id, video_sha256=trace.video_sha256, planner_name=planner.name,
        turns=tuple(planner.turns), tool_results=tuple(results),
    )


# -- replay ----------------------------------------------------------------------------------


class ReplayedToolError(VidagentError):
    """Raised by a replay backend to reproduce a recorded tool failure."""


class ReplayPlanner:
    """Returns the recorded replies in order, after checking the request matches the recording."""

    def __init__(self, recording: SampleRecording):
        if recording.format != RECORDING_FORMAT:
            raise ValueError(f"recording format {recording.format} is not {RECORDING_FORMAT}")
        self.recording = recording
        self.name = recording.planner_name
        self.vision_limits = VisionLimits()  # images were never recorded; nothing to decode
        self._next = 0
        self._lock = threading.Lock()

    def plan(self, request: PlannerInput) -> PlannerReply:
        with self._lock:
            index = self._next
            self._next += 1
        turns = self.recording.turns
        if index >= len(turns):
            raise PlannerError(f"replay diverged: the agent asked for planner reply {index + 1} but only "
                               f"{len(turns)} were recorded")
        if index == 0 and request.video.sha256 != self.recording.video_sha256:
            raise PlannerError(f"replay diverged: video sha256 {request.video.sha256[:12]} differs from the "
                               f"recorded {self.recording.video_sha256[:12]}")
        turn = turns[index]
        difference = _difference(turn, request)
        if difference:
            raise PlannerError(f"replay diverged at planner turn {index + 1}: {difference}")
        if turn.planner_error is not None:
            raise PlannerError(turn.planner_error)
        return turn.reply()


def _difference(turn: RecordedTurn, request: PlannerInput) -> str | None:
    shown = _shown(request)
    for field in ("history_len", "feedback", "must_answer"):
        if shown[field] != getattr(turn, field):
            return f"{field} is {shown[field]!r}, recorded {getattr(turn, field)!r}"
    now, then = shown["seen"], turn.seen
    if len(now) != len(then):
        return f"{len(now)} observations, recorded {len(then)}"
    for a, b in zip(now, then):
        if (a.call_id, a.name, a.status) != (b.call_id, b.name, b.status):
            return f"observation {a.name}/{a.status} ({a.call_id}), recorded {b.name}/{b.status} ({b.call_id})"
        if a.status != "error" and (a.text != b.text or a.evidence != b.evidence):
            return f"observation of {a.name} ({a.call_id}) differs from the recorded one"
    return None


def replay_toolset(toolset: ToolSet, recording: SampleRecording) -> ToolSet:
    """``toolset``'s tools (same names and argument schemas) answering from ``recording``.

    Results are matched by tool name and validated arguments, first recorded first served;
    a call the recording does not have fails with a ``replay:`` error observation. Nothing is
    cached.
    """
    queues: dict[tuple[str, str], deque[RecordedToolResult]] = defaultdict(deque)
    for result in recording.tool_results:
        queues[(result.name, result.key)].append(result)
    lock = threading.Lock()

    def replaying(backend: ToolBackend):
        def fn(args, ctx):
            key = canonical_json(args.model_dump(mode="json"))
            with lock:
                queue = queues.get((backend.name, key))
                recorded = queue.popleft() if queue else None
            if recorded is None:
                raise ReplayedToolError(f"replay: the recording has no (further) result for {backend.name} {key}")
            return _reproduce(backend, recorded)

        return fn

    return dataclasses.replace(toolset, backends={
        n: dataclasses.replace(b, fn=replaying(b), cacheable=False) for n, b in toolset.backends.items()
    })


def _reproduce(backend: ToolBackend, recorded: RecordedToolResult) -> ToolOutput:
    """The recorded output, or the exception that makes the runner report the recorded failure."""
    output = recorded.output(backend)
    if recorded.status == "ok":
        return output
    text = output.observation
    if recorded.status == "retry":
        raise ToolRetry(text)
    failed = f"{backend.name} failed: "
    if text.startswith(failed):
        raise ReplayedToolError(text[len(failed):])
    if text.startswith(f"{backend.name} timed out after"):
        raise ToolTimeout(text)
    raise ReplayedToolError(text)
