"""Capabilities: what a tool does, as data every tier shares.

A ``Capability`` is a name, an argument model, a result model and a description that is true
for every backend. A backend (core weight-free, lite CPU, full GPU, a user's own) registers
against one of these objects with ``@backend(CAPABILITY, name=...)``, so the planner sees the
same name, schema and description whichever profile runs. Result models hold the typed payload
that derived tools and evaluations read (never shown to the planner).

A plugin may define a capability of its own the same way: ``Capability(name=..., args=...,
result=..., description=...)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tools.detections import Detections
from tools.types import TimeSpan, VideoMeta


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
    low_score: Detections | None = Field(
        default=None,
        description="boxes scoring below the reporting threshold, kept for trackers (ByteTrack's second "
                    "association extends tracks through them); not in the observation",
    )


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


# -- the capabilities ------------------------------------------------------------------------

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Capability:
    """One tool as the planner sees it, whatever backend runs it.

    ``args``: the pydantic model of the arguments (its JSON schema is what the planner fills).
    ``result``: the pydantic model every backend puts in ``ToolOutput.data`` (None: no payload).
    ``description``: what the tool does, true for every backend; a backend may add one line
    about its own limits (``@backend(..., limits="knows the 80 COCO classes")``).
    ``internal``: a building block other tools call through ``ctx.call`` (cached like any
    call) that the planner is not shown. ``use_for``: the kinds of question it answers, a few
    words the planner's tool-choice list pairs with the name ("written words, signs").
    """

    name: str
    args: type[BaseModel]
    result: type[BaseModel] | None
    description: str
    internal: bool = False
    use_for: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"capability name {self.name!r} must be snake_case")
        if not self.description.strip():
            raise ValueError(f"capability {self.name}: give a description")

    def __repr__(self) -> str:
        return f"Capability({self.name!r})"


VIDEO_INFO = Capability(
    name="video_info", args=VideoInfoArgs, result=VideoMeta,
    use_for="video length, frame rate, size",
    description="Duration (seconds), frame rate, frame count, size (pixels) and codec of the video.",
)

DETECT_SHOTS = Capability(
    name="detect_shots", args=DetectShotsArgs, result=ShotsResult,
    use_for="shots, cuts, scene changes, before or after a cut",
    description=(
        "Find the hard cuts between shots (camera changes) and list the shots with their start and end times "
        "in seconds. Use it for questions about scenes, shot counts or what happens before or after a cut."
    ),
)

DETECT_OBJECTS = Capability(
    name="detect_objects", args=DetectObjectsArgs, result=DetectionsResult,
    use_for="is something there, and where (boxes)",
    description=(
        "Find objects named by short phrases in frames sampled at `fps`, with times and boxes (x1, y1, x2, y2 "
        "pixels). The observation says how many frames were looked at and at what rate, and names any phrase "
        "this detector cannot look for."
    ),
)

TRACK_OBJECTS = Capability(
    name="track_objects", args=TrackObjectsArgs, result=TracksResult,
    description=(
        "Follow objects named by short phrases over time: one id per object, with first and last seen times "
        "and per-frame boxes. Use it to tell objects apart over time; count_objects, object_timeline and "
        "motion_direction build on it."
    ),
)

COUNT_OBJECTS = Capability(
    name="count_objects", args=CountObjectsArgs, result=None,
    use_for="how many of something",
    description=(
        "Count distinct objects of each kind (by tracking them) in a span, and the most seen at the same "
        "moment, with times. Counts are of tracked objects; objects that stay hidden or too small for the "
        "detector are missed."
    ),
)

OBJECT_TIMELINE = Capability(
    name="object_timeline", args=ObjectTimelineArgs, result=None,
    use_for="when something appears, what comes first, how long",
    description=(
        "When each tracked object is first and last seen, and the intervals in which it is visible (seconds). "
        "Use for 'when does X appear', 'what comes first', 'how long'."
    ),
)

MOTION_DIRECTION = Capability(
    name="motion_direction", args=MotionDirectionArgs, result=None,
    use_for="which way something moves",
    description=(
        "How each tracked object moves across the frame: left to right, right to left, upwards, downwards, "
        "towards or away from the camera, or roughly stationary (image coordinates; camera motion is not "
        "compensated)."
    ),
)

RETRIEVE_FRAMES = Capability(
    name="retrieve_frames", args=RetrieveFramesArgs, result=None,
    use_for="finding the moment that matches a description",
    description="Find the frames that best match a text query, in time order with scores.",
)

READ_TEXT = Capability(
    name="read_text", args=ReadTextArgs, result=None,
    use_for="written words, letters, signs, numbers, captions",
    description=(
        "Read text visible in the video (signs, captions, plates) in frames sampled at `fps`. Repeated reads of "
        "the same text are merged; each read comes with its first and last times (seconds) and box "
        "(x1, y1, x2, y2 pixels)."
    ),
)

DESCRIBE_FRAMES = Capability(
    name="describe_frames", args=DescribeFramesArgs, result=None,
    use_for="what a moment looks like, where things are",
    description="Describe in text what the frames at the given times show, with positions of the things seen.",
)

DOMINANT_COLOR = Capability(
    name="dominant_color", args=DominantColorArgs, result=None,
    use_for="the colour of a thing (box from detect_objects) or of a frame",
    description=(
        "Name the main colour (red, orange, yellow, green, blue, purple, pink, brown, black, white, grey) inside "
        "a box of the frame at a time, or of the whole frame. Take boxes from detect_objects or track_objects."
    ),
)

#: vidagent's own capabilities, by name (plugins may define more).
BUILTIN_CAPABILITIES: dict[str, Capability] = {
    c.name: c
    for c in (VIDEO_INFO, DETECT_SHOTS, DETECT_OBJECTS, TRACK_OBJECTS, COUNT_OBJECTS, OBJECT_TIMELINE,
              MOTION_DIRECTION, RETRIEVE_FRAMES, READ_TEXT, DESCRIBE_FRAMES, DOMINANT_COLOR)
}


# -- speech and ImageNet labels (lite perception) ------------------------------------------


class TranscribeSpeechArgs(_Args):
    span: TimeSpan | None = SpanField


class SpokenWord(BaseModel):
    """One word heard, with its start and end on the video's clock (seconds)."""

    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float
    text: str
    probability: float = Field(ge=0, le=1)


class SpeechSegment(BaseModel):
    """A stretch of speech (about a sentence): times in video seconds, its text and words."""

    model_config = ConfigDict(frozen=True)

    start_s: float
    end_s: float
    text: str
    words: list[SpokenWord] = Field(default_factory=list)
    no_speech_prob: float = Field(default=0.0, ge=0, le=1, description="the model's belief that this is not speech")


class Transcript(BaseModel):
    """What a speech model heard. ``language``: ISO 639-1 code it detected (or was told)."""

    model_config = ConfigDict(frozen=True)

    language: str
    language_probability: float = Field(ge=0, le=1)
    segments: list[SpeechSegment]


class SpeechResult(_Result):
    has_audio: bool = Field(description="False: the video has no audio stream (nothing was transcribed)")
    span: TimeSpan = Field(description="the part of the video listened to, seconds")
    transcript: Transcript | None = None


class ClassifyFramesArgs(_Args):
    times: list[float] | None = Field(
        default=None, min_length=1, max_length=16, description="times in seconds of the frames to label; omit to sample"
    )
    span: TimeSpan | None = Field(default=None, description="when times are omitted: part of the video to sample, seconds")
    fps: Capped(2.0) = Field(default=0.5, gt=0, description="when times are omitted: frames per second to sample (at most 2)")
    top_k: Capped(10) = Field(default=3, ge=1, description="labels per frame (at most 10)")


class ImageLabel(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(description="class name, e.g. 'hare'")
    score: float = Field(ge=0, le=1, description="probability")


class FrameLabels(BaseModel):
    model_config = ConfigDict(frozen=True)

    frame_index: int
    time_s: float
    labels: list[ImageLabel] = Field(description="best first")


class FrameLabelsResult(_Result):
    frames: list[FrameLabels]


TRANSCRIBE_SPEECH = Capability(
    name="transcribe_speech", args=TranscribeSpeechArgs, result=SpeechResult,
    use_for="what is said, spoken words",
    description=(
        "Transcribe what is said in the video's audio (or a span of it): sentences with start and end times in "
        "seconds and the words they contain. Says so when the video has no sound or no speech."
    ),
)

CLASSIFY_FRAMES = Capability(
    name="classify_frames", args=ClassifyFramesArgs, result=FrameLabelsResult,
    use_for="what kind of animal, object or scene; kind of footage",
    description=(
        "Name what whole frames show with image-classifier labels (animals, objects, scenes: e.g. 'hare', "
        "'tabby', 'seashore'), best first with probabilities, for frames at given times or sampled over a span. "
        "Use it for things an object detector has no name for."
    ),
)

BUILTIN_CAPABILITIES.update({c.name: c for c in (TRANSCRIBE_SPEECH, CLASSIFY_FRAMES)})


# -- grounding (appended: full tier) ------------------------------------------------------------


class GroundPhraseArgs(_Args):
    expression: str = Field(
        min_length=1, max_length=200,
        description="a referring expression naming one object, e.g. 'the man in the red coat who enters last'",
    )
    span: TimeSpan | None = SpanField
    fps: Capped(10.0) = Field(default=2.0, gt=0, description="frames per second to look at (at most 10)")


class GroundingResult(_Result):
    expression: str
    detections: Detections = Field(description="the tube: at most one box per frame looked at, label = the expression")
    start_s: float | None = Field(default=None, description="first time in the tube, seconds (None: not found)")
    end_s: float | None = Field(default=None, description="last time in the tube, seconds (None: not found)")
    sampled_frames: list[int] = Field(default_factory=list, description="indices of the frames looked at")
    sampled_times_s: list[float] = Field(default_factory=list, description="their times, seconds")


GROUND_PHRASE = Capability(
    name="ground_phrase", args=GroundPhraseArgs, result=GroundingResult,
    use_for="one described object ('the man in red')",
    description=(
        "Find the one object a referring expression describes ('the man in the red coat', 'the car that turns "
        "left') over a span: one box (x1, y1, x2, y2 pixels) per frame looked at while it is visible, linked "
        "over time into a tube with start and end times in seconds."
    ),
)

BUILTIN_CAPABILITIES[GROUND_PHRASE.name] = GROUND_PHRASE


# -- frame embeddings (appended: full tier) -----------------------------------------------------


class EmbedFramesArgs(_Args):
    fps: Capped(30.0) = Field(default=1.0, gt=0, description="frames per second to embed over the whole video")


class FrameEmbeddings(_Result):
    frames: list[int] = Field(description="indices of the frames embedded, in time order")
    times_s: list[float] = Field(description="their times, seconds")
    vectors: np.ndarray = Field(description="(n, d) float32, unit length: one image embedding per frame")
    fps_used: float = Field(description="the rate actually sampled (lowered for long videos), frames per second")


EMBED_FRAMES = Capability(
    name="embed_frames", args=EmbedFramesArgs, result=FrameEmbeddings, internal=True,
    description="Image embeddings of frames sampled over the whole video (computed once per video, model and "
                "rate, then cached), for retrieval tools to score against text.",
)

BUILTIN_CAPABILITIES[EMBED_FRAMES.name] = EMBED_FRAMES


# -- segmentation (appended: full tier) ---------------------------------------------------------


class SegmentObjectsArgs(_Args):
    phrases: list[str] = Field(
        min_length=1, max_length=8,
        description="what to segment, e.g. ['person']; with boxes, the labels of the boxes (one, or one per box)",
    )
    boxes: list[tuple[float, float, float, float]] | None = Field(
        default=None, min_length=1, max_length=16,
        description="x1, y1, x2, y2 pixel boxes to segment in the frame at time_s (e.g. from track_objects); "
                    "omit to find the phrases with detect_objects",
    )
    time_s: float | None = Field(default=None, ge=0, description="time of the frame the boxes are in, seconds")
    span: TimeSpan | None = SpanField
    fps: Capped(10.0) = Field(default=1.0, gt=0, description="frames per second to segment (at most 10)")

    @model_validator(mode="after")
    def _boxes_need_a_time(self) -> "SegmentObjectsArgs":
        if self.boxes is not None:
            if self.time_s is None:
                raise ValueError("boxes need time_s, the time of the frame they are in")
            if len(self.phrases) not in (1, len(self.boxes)):
                raise ValueError("with boxes, give one phrase or one per box")
            if any(b[2] < b[0] or b[3] < b[1] for b in self.boxes):
                raise ValueError("every box must be x1 <= x2, y1 <= y2")
        return self


class SegmentationResult(_Result):
    detections: Detections = Field(description="one row per object per frame, mask set; xyxy is the mask's box")
    phrase_labels: dict[str, str | None] = Field(default_factory=dict)
    sampled_frames: list[int] = Field(default_factory=list, description="indices of the frames segmented")
    sampled_times_s: list[float] = Field(default_factory=list, description="their times, seconds")


SEGMENT_OBJECTS = Capability(
    name="segment_objects", args=SegmentObjectsArgs, result=SegmentationResult,
    use_for="the exact outline or area of a thing",
    description=(
        "Outline objects pixel by pixel: objects named by phrases (found in frames sampled at `fps`) or given "
        "boxes in one frame. Reports each object's area (share of the frame) and the tight box around its "
        "mask (x1, y1, x2, y2 pixels), with times."
    ),
)

BUILTIN_CAPABILITIES[SEGMENT_OBJECTS.name] = SEGMENT_OBJECTS


# -- action recognition (appended: trained recognisers, any tier) ------------------------------


class RecognizeActionArgs(_Args):
    span: TimeSpan | None = SpanField
    labels: list[str] | None = Field(
        default=None, min_length=1, max_length=20,
        description="only score these labels (from the recogniser's label list); omit for all",
    )
    recognizer: str | None = Field(
        default=None, max_length=80, description="which recogniser, when there are several; omit for the first "
                                                 "whose labels include the ones asked for",
    )


class WindowScores(BaseModel):
    model_config = ConfigDict(frozen=True)

    start_s: float = Field(description="window start, seconds")
    end_s: float = Field(description="window end, seconds")
    scores: dict[str, float] = Field(description="label -> probability (0-1) in this window")


class RecognitionResult(_Result):
    recognizer: str
    labels: list[str] = Field(description="the labels scored")
    windows: list[WindowScores] = Field(description="sliding windows over the span, in time order")


RECOGNIZE_ACTION = Capability(
    name="recognize_action", args=RecognizeActionArgs, result=RecognitionResult,
    use_for="what action or camera motion happens",
    description=(
        "Recognise actions or camera motions over a span with a trained video recogniser: scores each of its "
        "labels in sliding windows (start and end times in seconds) and names the best label per window. Only "
        "the labels listed below can be recognised."
    ),
)

BUILTIN_CAPABILITIES[RECOGNIZE_ACTION.name] = RECOGNIZE_ACTION


# -- asking a vision-language model (appended: full tier) ---------------------------------------


class AskFramesArgs(_Args):
    question: str = Field(min_length=1, max_length=300, description="what to ask about the frames")
    times: list[float] = Field(min_length=1, max_length=4, description="times in seconds of the frames to look at")


ASK_FRAMES = Capability(
    name="ask_frames", args=AskFramesArgs, result=None,
    description=(
        "Ask a vision-language model a question about the frames at the given times (seconds); it answers from "
        "the pixels: colours, actions, clothing, text, who is where. Name the frames by time, e.g. from "
        "detect_shots or retrieve_frames."
    ),
)

BUILTIN_CAPABILITIES[ASK_FRAMES.name] = ASK_FRAMES
