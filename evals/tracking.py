"""One MOTChallenge sequence through a tracker and the scorer: ``SequenceRow``.

Two trackers: ``PipelineTracker`` runs a pipeline's ``track_objects`` backend directly (no
planner) over the whole sequence in one call, asking for the video's own frame rate so that
every frame is tracked under one set of track ids; ``ResultsFiles`` reads results a tracker
already wrote (``<dir>/<sequence>.txt``). ``process_sequence`` tracks (or reads), writes
``<sequence>.txt`` in MOTChallenge format, and scores it against ``gt/gt.txt``
(``evals.mot``). Every failure becomes an error row, never an exception.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from evals.mot import MotEvaluation, MotRow, detections_to_mot_rows, evaluate_mot, read_mot_file, write_mot_file
from evals.pipeline import Pipeline
from evals.provenance import now_iso
from evals.suites.mot import MotSequence
from tools.errors import ConfigError, ToolTimeout, VideoError

TRACK_TOOL = "track_objects"
TRACKS_SUBDIR = "tracks"

ErrorKind = Literal[
    "missing_frames", "video_unreadable", "frames_mismatch", "timeout", "tracker_error", "missing_tracks",
    "bad_file",
]


class SequenceRow(BaseModel):
    """One line of a tracking run's ``results.jsonl``: one sequence, tracked and scored.

    ``sample_id`` is the sequence name (the key a resumed run skips by). ``status`` is
    ``scored`` or ``error`` (then ``error``/``error_kind`` say why and ``evaluation`` is None).
    ``tracks_file``: the results file written, relative to the run directory.
    ``n_frames``: frames in the sequence; ``frames_tracked``: frames the tracker looked at
    (None when the backend does not report them); ``fps``: the rate asked of the tracker,
    frames per second; ``observation``: the backend's own summary (what a planner would read).
    ``seconds``: wall time of tracking and scoring; ``frames_decoded`` and ``model_frames``
    (frames run through each model) count the tracker's work.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    suite: str
    sample_id: str
    status: Literal["scored", "error"]
    error: str | None = None
    error_kind: ErrorKind | None = None
    frames_path: str | None = None
    gt_path: str
    tracks_file: str | None = None
    n_frames: int | None = None
    frames_tracked: int | None = None
    fps: float | None = None
    n_tracks: int | None = None
    n_boxes: int | None = None
    observation: str | None = None
    backend: str | None = None
    evaluation: MotEvaluation | None = None
    seconds: float | None = None
    frames_decoded: int | None = None
    model_frames: dict[str, int] | None = None
    finished_at: str = ""


@dataclass
class Tracked:
    """What a tracker gave for one sequence: MOTChallenge rows and how it got them."""

    rows: list[MotRow]
    n_frames: int | None = None
    frames_tracked: int | None = None
    fps: float | None = None
    observation: str | None = None
    backend: str | None = None
    frames_decoded: int | None = None
    model_frames: dict[str, int] = field(default_factory=dict)


class TrackingFailed(Exception):
    """A sequence could not be tracked; ``kind`` classifies why (``SequenceRow.error_kind``)."""

    def __init__(self, kind: ErrorKind, message: str):
        self.kind = kind
        super().__init__(message)


class Tracker(Protocol):
    name: str

    def track(self, sequence: MotSequence, phrases: Sequence[str]) -> Tracked:
        """Tracks of ``phrases`` over every frame of ``sequence``; raises TrackingFailed."""
        ...

    def close(self) -> None: ...


class PipelineTracker:
    """Runs a pipeline's ``track_objects`` backend on whole sequences.

    The toolset is the pipeline's profile with its backend overrides (``[tools] names`` only
    narrow what a planner sees and do not apply); the pipeline's result cache serves the
    nested calls (e.g. ``detect_objects``). ``timeout_s``: wall-time limit per sequence,
    seconds (None: none); the backend's own per-call limit, meant for planner calls, does
    not apply.
    """

    def __init__(self, pipeline: Pipeline, timeout_s: float | None = None):
        from tools.cache import ResultCache
        from tools.toolset import build_toolset

        config = pipeline.config
        self.toolset = build_toolset(config.tools.model_copy(update={"names": None}))
        self.backend = self.toolset.get(TRACK_TOOL)
        if self.backend is None:
            raise ConfigError(f"{pipeline.path}: profile {config.tools.profile!r} has no {TRACK_TOOL} backend; "
                              f"choose a profile or [tools] backends entry that has one")
        cache_path = pipeline.cache_path()
        self.cache = ResultCache(cache_path) if cache_path else None
        self.timeout_s = timeout_s
        self.name = f"{pipeline.name} ({TRACK_TOOL}/{self.backend.backend})"

    def track(self, sequence: MotSequence, phrases: Sequence[str]) -> Tracked:
        from tools.capabilities import TracksResult
        from tools.context import ToolContext
        from tools.runner import ToolRunner
        from tools.video import VideoReader

        if sequence.frames is None:
            raise TrackingFailed("missing_frames", f"{sequence.folder}: no video file and no "
                                                   f"{sequence.info.image_dir}/ image folder")
        try:
            reader = VideoReader.open(sequence.frames)
        except VideoError as exc:
            raise TrackingFailed("video_unreadable", str(exc)) from None
        with reader:
            meta = reader.meta
            _check_frames(sequence, meta.n_frames, meta.width, meta.height)
            args = self.backend.args_model.model_validate({"phrases": list(phrases), "fps": meta.fps})
            # max_frames=None: no frame budget (a planner's calls have one), so every frame is tracked
            runner = ToolRunner(self.toolset, reader, cache=self.cache, max_frames=None,
                                timeout_s=self.timeout_s if self.timeout_s is not None else math.inf)
            deadline = time.monotonic() + self.timeout_s if self.timeout_s is not None else math.inf
            ctx = ToolContext(video=reader, runner=runner, models=runner.models, device=self.toolset.device,
                              max_frames=None, deadline=deadline)
            try:
                output = self.backend.fn(args, ctx)
            except ToolTimeout:
                raise TrackingFailed("timeout", f"tracking ran past {self.timeout_s:g} s") from None
            except Exception as exc:  # a backend bug is this sequence's error row
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                raise TrackingFailed("tracker_error", f"{TRACK_TOOL}/{self.backend.backend} failed: {detail}") from None
            result = output.data
            if not isinstance(result, TracksResult):
                raise TrackingFailed("tracker_error", f"{TRACK_TOOL}/{self.backend.backend} returned "
                                                      f"{type(result).__name__}, not TracksResult")
            try:
                rows = detections_to_mot_rows(result.detections) if len(result.detections) else []
            except ValueError as exc:  # boxes without track ids
                raise TrackingFailed("tracker_error", f"{TRACK_TOOL}/{self.backend.backend}: {exc}") from None
            return Tracked(
                rows=rows,
                n_frames=meta.n_frames,
                frames_tracked=len(set(result.sampled_frames)) if result.sampled_frames else None,
                fps=float(args.fps),
                observation=output.observation,
                backend=self.backend.backend,
                frames_decoded=ctx.counters.decode.frames_decoded,
                model_frames=dict(ctx.counters.model_frames),
            )

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


class ResultsFiles:
    """A tracker's results already on disk: ``<folder>/<sequence>.txt`` in MOTChallenge format."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ConfigError(f"results folder {self.folder} not found")
        self.name = f"results files in {self.folder}"

    def track(self, sequence: MotSequence, phrases: Sequence[str]) -> Tracked:
        path = self.folder / f"{sequence.name}.txt"
        if not path.is_file():
            raise TrackingFailed("missing_tracks", f"no results file {path}")
        try:
            rows = read_mot_file(path)
        except ValueError as exc:
            raise TrackingFailed("bad_file", str(exc)) from None
        return Tracked(rows=rows, n_frames=sequence.info.length)

    def close(self) -> None:
        pass


def _check_frames(sequence: MotSequence, n_frames: int, width: int, height: int) -> None:
    """The frames must be the ones ``seqinfo.ini`` describes, or the boxes would not line up."""
    info = sequence.info
    if info.length is not None and n_frames != info.length:
        raise TrackingFailed("frames_mismatch", f"{sequence.frames} has {n_frames} frames; "
                                                f"{sequence.folder / 'seqinfo.ini'} says seqLength={info.length}")
    if info.width is not None and info.height is not None and (width, height) != (info.width, info.height):
        raise TrackingFailed("frames_mismatch", f"{sequence.frames} is {width}x{height}; seqinfo.ini says "
                                                f"{info.width}x{info.height}")


def process_sequence(suite_name: str, sequence: MotSequence, tracker: Tracker, phrases: Sequence[str],
                     run_dir: Path) -> SequenceRow:
    """Track (or read) one sequence, write ``<run_dir>/tracks/<sequence>.txt``, score it."""
    started = time.monotonic()
    common = dict(suite=suite_name, sample_id=sequence.name, gt_path=str(sequence.gt_path),
                  frames_path=str(sequence.frames) if sequence.frames else None)
    try:
        gt = read_mot_file(sequence.gt_path)
    except ValueError as exc:
        return SequenceRow(**common, status="error", error=str(exc), error_kind="bad_file",
                           seconds=time.monotonic() - started, finished_at=now_iso())
    try:
        tracked = tracker.track(sequence, phrases)
    except TrackingFailed as exc:
        return SequenceRow(**common, status="error", error=str(exc), error_kind=exc.kind,
                           seconds=time.monotonic() - started, finished_at=now_iso())
    relative = Path(TRACKS_SUBDIR) / f"{sequence.name}.txt"
    write_mot_file(tracked.rows, run_dir / relative)
    evaluation = evaluate_mot(gt, tracked.rows)
    return SequenceRow(
        **common,
        status="scored",
        tracks_file=relative.as_posix(),
        n_frames=tracked.n_frames,
        frames_tracked=tracked.frames_tracked,
        fps=tracked.fps,
        n_tracks=len({r.track_id for r in tracked.rows}),
        n_boxes=len(tracked.rows),
        observation=tracked.observation,
        backend=tracked.backend,
        evaluation=evaluation,
        seconds=time.monotonic() - started,
        frames_decoded=tracked.frames_decoded,
        model_frames=tracked.model_frames or None,
        finished_at=now_iso(),
    )
