"""Small typed objects passed between tools, planners and the agent.

Large arrays (frames, detections) never go into planner prompts: tools return them in
``ToolOutput.data`` and the planner sees only ``observation`` text and ``evidence``.
"""

from __future__ import annotations

import uuid
from typing import Any, Generic, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TimeSpan(_Frozen):
    """A closed interval of video time in seconds, ``0 <= start_s <= end_s``."""

    start_s: float = Field(ge=0, description="start time in seconds")
    end_s: float = Field(ge=0, description="end time in seconds")

    @model_validator(mode="after")
    def _ordered(self) -> "TimeSpan":
        if self.end_s < self.start_s:
            raise ValueError(f"end_s ({self.end_s}) is before start_s ({self.start_s})")
        return self

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def contains(self, t: float) -> bool:
        return self.start_s <= t <= self.end_s

    def clip(self, duration_s: float) -> "TimeSpan":
        """This span limited to ``[0, duration_s]``."""
        end = min(self.end_s, duration_s)
        return TimeSpan(start_s=min(self.start_s, end), end_s=end)

    def iou(self, other: "TimeSpan") -> float:
        inter = max(0.0, min(self.end_s, other.end_s) - max(self.start_s, other.start_s))
        union = max(self.end_s, other.end_s) - min(self.start_s, other.start_s)
        return inter / union if union > 0 else float(self == other)


class VideoMeta(_Frozen):
    """What a video is, read from its frame index. ``fps`` is an average for description only:
    to turn a time into a frame use the reader's real timestamps (``VideoReader.index_at``,
    ``ToolContext.frame_index_at``), never ``time * fps``. ``width``/``height`` are upright."""

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    duration_s: float = Field(gt=0, description="time from the first frame to the end of the last, seconds")
    fps: float = Field(gt=0, description="average frames per second (the declared rate when the frames keep it)")
    n_frames: int = Field(gt=0)
    width: int = Field(gt=0, description="pixels")
    height: int = Field(gt=0, description="pixels")
    codec: str


class Evidence(_Frozen):
    """A reference into the video that supports a statement."""

    time_s: float = Field(ge=0, description="seconds from the start of the video")
    frame_index: int | None = Field(default=None, ge=0)
    box: tuple[float, float, float, float] | None = Field(
        default=None, description="x1, y1, x2, y2 in source pixels"
    )
    note: str = Field(default="", json_schema_extra={"maxLength": 200})  # bound for constrained decoders only

    @field_validator("box")
    @classmethod
    def _box_ordered(cls, box):
        if box is not None and (box[2] < box[0] or box[3] < box[1]):
            raise ValueError(f"box {box} is not x1 <= x2, y1 <= y2")
        return box


class ToolSpec(_Frozen):
    """What a planner is shown of a tool: the same on every tier."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(description="JSON schema of the arguments object")
    use_for: str = Field(default="", description="kinds of question it answers, for the planner's tool-choice list")


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:12]


class ToolCall(_Frozen):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    id: str = Field(default_factory=new_call_id)


ToolStatus = Literal["ok", "retry", "error"]


ResultT = TypeVar("ResultT", bound=BaseModel)


class ToolOutput(BaseModel, Generic[ResultT]):
    """What a tool function returns. ``data`` is the capability's result model (it may hold
    numpy arrays), or None for a capability without one.

    A backend may annotate its return as ``ToolOutput[TracksResult]``; the registry then
    checks at registration that this is its capability's result model.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    observation: str
    data: ResultT | None = None
    evidence: list[Evidence] = Field(default_factory=list)


class ToolResult(BaseModel):
    """One executed tool call, as the agent records it.

    ``status``: ``ok`` (observation holds the answer), ``retry`` (bad arguments; the
    observation says what to change), ``error`` (the tool failed or timed out).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    call_id: str
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    status: ToolStatus
    observation: str
    data: BaseModel | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    backend: str = ""
    cache_hit: bool = False
    nested_cache_hits: int = Field(default=0, description="cache hits of tools this call called in turn")
    seconds: float = 0.0
    frames_decoded: int = 0
    model_frames: dict[str, int] = Field(default_factory=dict, description="frames run through each model")


class Observation(_Frozen):
    """The small, planner-facing part of a ToolResult (what graph state carries)."""

    call_id: str
    name: str
    status: ToolStatus
    text: str
    evidence: tuple[Evidence, ...] = ()

    @classmethod
    def of(cls, result: ToolResult) -> "Observation":
        return cls(
            call_id=result.call_id,
            name=result.name,
            status=result.status,
            text=result.observation,
            evidence=tuple(result.evidence),
        )


class Frame:
    """One decoded frame.

    ``image``: (height, width, 3) uint8 RGB. ``time_s``: presentation time in seconds.
    """

    __slots__ = ("index", "time_s", "image")

    def __init__(self, index: int, time_s: float, image: np.ndarray):
        self.index = int(index)
        self.time_s = float(time_s)
        self.image = image

    def __repr__(self) -> str:
        return f"Frame(index={self.index}, time_s={self.time_s:.3f}, shape={self.image.shape})"


class DecodeStats:
    """Thread-safe counters of one consumer's frame reads (a tool call, a whole run)."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self.frames_decoded = 0
        self.frames_from_cache = 0
        self.seeks = 0

    def add(self, decoded: int = 0, from_cache: int = 0, seeks: int = 0) -> None:
        with self._lock:
            self.frames_decoded += decoded
            self.frames_from_cache += from_cache
            self.seeks += seeks
