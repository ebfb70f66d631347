"""Capabilities: the tool names and argument models every tier shares.

A backend (lite CPU, full GPU, a user's own) registers under one of these names with its
argument model, so the planner sees the same schema whichever profile runs. Result models
hold the typed payload that derived tools and evaluations read (never shown to the planner).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tools.detections import Detections
from tools.types import TimeSpan


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Result(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)


def Capped(limit: float):
    """A number lowered to ``limit`` rather than rejected above it.

    Small planners under grammar-constrained decoding cannot see numeric maxima (llama.cpp's
    grammars do not enforce them) and repeat a rejected value; lowering it keeps the run
    going, and each tool's observation reports the rate it actually used."""
    kind = int if isinstance(limit, int) else float
    return Annotated[kind, AfterValidator(lambda v: min(v, limit))]


SpanField = Field(default=None, description="part of the video to look at, in seconds; omit for the whole video")


# -- weight-free -----------------------------------------------------------------------------


class VideoInfoArgs(_Args):
    pass


class DetectShotsArgs(_Args):
    span: TimeSpan | None = SpanField


class Shot(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int


class ShotsResult(_Result):
    cut_times_s: list[float] = Field(description="times of hard cuts, seconds")
    shots: list[Shot]


# -- detection and tracking ---------------------------------------------------------------


class DetectObjectsArgs(_Args):
    phrases: list[str] = Field(min_length=1, max_length=8, description="what to look for, e.g. ['car', 'person']")
    span: TimeSpan | None = SpanField
    fps: Capped(30.0) = Field(default=2.0, gt=0, description="frames per second to sample (at most 30)")


class DetectionsResult(_Result):
    detections: Detections
    phrase_labels: dict[str, str | None] = Field(
        default_factory=dict, description="phrase -> detector label it maps to (None: unsupported)"
    )
    sampled_frames: list[int] = Field(default_factory=list, description="indices of the frames looked at")
    sampled_times_s: list[float] = Field(default_factory=list, description="their times, seconds")


class TrackObjectsArgs(DetectObjectsArgs):
    fps: Capped(30.0) = Field(default=5.0, gt=0, description="frames per second to sample (at most 30; tracking needs >= 3)")


class Track(BaseModel):
    model_config = ConfigDict(frozen=True)

    track_id: int
    label: str
    first_s: float
    last_s: float
    n_boxes: int


class TracksResult(_Result):
    detections: Detections = Field(description="per-frame boxes, with track_id set")
    tracks: list[Track]
    phrase_labels: dict[str, str | None] = Field(default_factory=dict)
    sampled_frames: list[int] = Field(default_factory=list)
    sampled_times_s: list[float] = Field(default_factory=list)


# -- retrieval, text, description -----------------------------------------------------------


class RetrieveFramesArgs(_Args):
    query: str = Field(min_length=1, description="what the frames should show")
    k: Capped(20) = Field(default=5, ge=1, description="how many frames to return (at most 20)")
    span: TimeSpan | None = SpanField


class ReadTextArgs(_Args):
    span: TimeSpan | None = SpanField
    fps: Capped(10.0) = Field(default=1.0, gt=0, description="frames per second to read (at most 10)")


class DescribeFramesArgs(_Args):
    times: list[float] = Field(min_length=1, max_length=8, description="times in seconds of the frames to describe")


# -- derived, model-free over detections and tracks ---------------------------------------


class CountObjectsArgs(TrackObjectsArgs):
    pass


class ObjectTimelineArgs(TrackObjectsArgs):
    pass


class MotionDirectionArgs(TrackObjectsArgs):
    pass


class DominantColorArgs(_Args):
    time_s: float = Field(ge=0, description="time of the frame, seconds")
    box: tuple[float, float, float, float] | None = Field(
        default=None, description="x1, y1, x2, y2 in source pixels; omit for the whole frame"
    )
