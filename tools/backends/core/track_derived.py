"""Backends derived from ``track_objects`` without another model: counts, timelines, motion.

They call ``track_objects`` through the runner (whatever backend the profile has), so the
tracks and the detections under them come from the result cache when an earlier call
already computed them. A profile without ``track_objects`` does not offer them.
"""

from __future__ import annotations

from tools.capabilities import (
    COUNT_OBJECTS,
    MOTION_DIRECTION,
    OBJECT_TIMELINE,
    CountObjectsArgs,
    MotionDirectionArgs,
    ObjectTimelineArgs,
    TracksResult,
)
from tools.context import ToolContext
from tools.observations import narrow_span_note, not_detectable
from tools.registry import backend
from tools.tracking import sampling_rate
from tools.track_analysis import TrackSummary, max_simultaneous, motion_of, summarize_tracks
from tools.types import Evidence, ToolOutput

MAX_LISTED = 12
FROM_TRACKS = dict(name="tracks", version="3", requires=("track_objects",), timeout_s=300)


def _tracks(args, ctx: ToolContext) -> tuple[TracksResult, list[TrackSummary], str]:
    tracks: TracksResult = ctx.call_data("track_objects", **args.model_dump(mode="json"))
    rate = sampling_rate(list(zip(tracks.sampled_frames, tracks.sampled_times_s)), args.fps)
    summaries = summarize_tracks(tracks.detections, 1.0 / rate)
    unsupported = [p for p, label in tracks.phrase_labels.items() if label is None]
    return tracks, summaries, unknown_note(unsupported)


def unknown_note(phrases: list[str]) -> str:
    """What a result means for phrases the detector has no class for: unknown, not absent."""
    return "; ".join(not_detectable(p, None) for p in phrases)


def _joined(note: str, lines: list[str], when_empty: str) -> str:
    """The unknown phrases first (a small planner reads the first words), then the findings."""
    if note and not lines:
        return note
    return "; ".join(filter(None, [note, "; ".join(lines) or when_empty]))


def _box_evidence(t: TrackSummary, note: str) -> Evidence:
    return Evidence(time_s=t.best_time_s, box=t.best_box, note=note)


@backend(COUNT_OBJECTS, **FROM_TRACKS)
def count_objects(args: CountObjectsArgs, ctx: ToolContext) -> ToolOutput:
    tracks, summaries, note = _tracks(args, ctx)
    labels = sorted({lbl for lbl in tracks.phrase_labels.values() if lbl})
    lines, evidence = [], []
    for label in labels:
        mine = [t for t in summaries if t.label == label]
        most, when = max_simultaneous(tracks.detections, label)
        when_text = f" (at {when:.2f} s)" if when is not None else ""
        spans = "; ".join(f"#{t.track_id} {t.first_s:.2f}-{t.last_s:.2f} s" for t in mine[:MAX_LISTED])
        lines.append(f"{label}: {len(mine)} distinct, at most {most} at once{when_text}" + (f" [{spans}]" if spans else ""))
        evidence += [_box_evidence(t, f"{label} #{t.track_id}") for t in mine[:MAX_LISTED]]
    nothing = "" if evidence else narrow_span_note(args.span, ctx.meta.duration_s)
    return ToolOutput(observation=_joined(note, lines, "nothing detected") + nothing, evidence=evidence)


@backend(OBJECT_TIMELINE, **FROM_TRACKS)
def object_timeline(args: ObjectTimelineArgs, ctx: ToolContext) -> ToolOutput:
    _, summaries, note = _tracks(args, ctx)
    lines = []
    for t in summaries[:MAX_LISTED]:
        intervals = ", ".join(f"{i.start_s:.2f}-{i.end_s:.2f}" for i in t.intervals)
        lines.append(f"{t.label} #{t.track_id}: first {t.first_s:.2f} s, last {t.last_s:.2f} s, visible {intervals}")
    more = f"; and {len(summaries) - MAX_LISTED} more tracks" if len(summaries) > MAX_LISTED else ""
    evidence = [_box_evidence(t, f"{t.label} #{t.track_id} first seen") for t in summaries[:MAX_LISTED]]
    nothing = "" if evidence else narrow_span_note(args.span, ctx.meta.duration_s)
    return ToolOutput(observation=_joined(note, lines, "nothing detected") + more + nothing, evidence=evidence)


@backend(MOTION_DIRECTION, **FROM_TRACKS)
def motion_direction(args: MotionDirectionArgs, ctx: ToolContext) -> ToolOutput:
    _, summaries, note = _tracks(args, ctx)
    meta = ctx.meta
    moving = [t for t in summaries if t.n_boxes >= 3]
    lines = [
        f"{t.label} #{t.track_id} ({t.first_s:.2f}-{t.last_s:.2f} s): {motion_of(t, meta.width, meta.height)}"
        for t in moving[:MAX_LISTED]
    ]
    evidence = [_box_evidence(t, f"{t.label} #{t.track_id}") for t in moving[:MAX_LISTED]]
    too_short = "no object was tracked long enough (3 or more sampled frames) to judge its motion"
    nothing = "" if evidence else narrow_span_note(args.span, meta.duration_s)
    return ToolOutput(observation=_joined(note, lines, too_short) + nothing, evidence=evidence)
