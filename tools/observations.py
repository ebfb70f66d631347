"""Observation text shared by backends of every tier: the same facts, worded the same way."""

from __future__ import annotations

import numpy as np

from tools.detections import Detections
from tools.types import Evidence


def describe_label(dets: Detections, label: str) -> tuple[str, list[Evidence]]:
    """What ``dets`` says about one label, in one clause: box and frame counts, first and last
    times, the most boxes in one frame, the clearest box; and evidence for the first and the
    clearest box (times in seconds, boxes in source pixels)."""
    rows = dets[dets.label == label]
    if not len(rows):
        return "not seen", []
    frames, counts = np.unique(rows.frame_index, return_counts=True)
    most = int(counts.max())
    best = int(np.argmax(rows.confidence))
    first = int(np.argmin(rows.time_s))
    box = tuple(round(float(v)) for v in rows.xyxy[best])
    text = (
        f"{len(rows)} boxes in {len(frames)} frames, first at {rows.time_s[first]:.2f} s, last at "
        f"{rows.time_s.max():.2f} s, up to {most} in one frame; best {rows.confidence[best]:.2f} at "
        f"{rows.time_s[best]:.2f} s box {box}"
    )
    evidence = [
        Evidence(time_s=float(rows.time_s[first]), box=tuple(map(float, rows.xyxy[first])), note=f"{label} first seen"),
        Evidence(time_s=float(rows.time_s[best]), box=tuple(map(float, rows.xyxy[best])), note=f"{label} clearest"),
    ]
    return text, evidence


def not_detectable(phrase: str, nearest: str | None) -> str:
    """The clause for a phrase the detector cannot look for: its presence is unknown, which a
    small planner otherwise reads as "not there"."""
    hint = f" (nearest detectable class: {nearest})" if nearest else ""
    return f"'{phrase}': not detectable by this detector, so unknown (not absent, not zero){hint}"


def narrow_span_note(span, duration_s: float) -> str:
    """For a result that found nothing: says that only part of the video was looked at, when the
    span covers under half of it (a small planner asked about "the video" often passes one
    instant, e.g. 10-10 s), so the planner widens it instead of concluding "none". ``span``: the
    TimeSpan looked at, or None for the whole video; seconds."""
    if span is None or duration_s <= 0 or span.end_s - span.start_s >= 0.5 * duration_s:
        return ""
    return (f" Only {span.start_s:.2f}-{span.end_s:.2f} s of the {duration_s:.2f} s video was looked at; "
            "leave span out to look at all of it.")
