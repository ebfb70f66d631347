"""Generic backend of ``track_objects``: ByteTrack over whatever ``detect_objects`` backend the
profile has (lite SSD, full Grounding DINO, a user's plugin)."""

from __future__ import annotations

import numpy as np

from tools.capabilities import TRACK_OBJECTS, DetectionsResult, TrackObjectsArgs, TracksResult
from tools.context import ToolContext
from tools.detections import Detections
from tools.registry import backend
from tools.tracking import sampling_rate, track, tracks_of
from tools.types import Evidence, ToolOutput

MAX_LISTED = 15


@backend(TRACK_OBJECTS, name="bytetrack", requires=("detect_objects",), timeout_s=300)
def track_objects(args: TrackObjectsArgs, ctx: ToolContext) -> ToolOutput[TracksResult]:
    detected: DetectionsResult = ctx.call_data("detect_objects", **args.model_dump(mode="json"))
    sampled = list(zip(detected.sampled_frames, detected.sampled_times_s))
    fps_used = sampling_rate(sampled, args.fps)
    return tracks_output(track(detected.detections, sampled, fps_used), detected, fps_used)


def tracks_output(tracked: Detections, detected: DetectionsResult, fps_used: float,
                  note: str = "") -> ToolOutput[TracksResult]:
    """The ``track_objects`` result of any tracker: ``tracked`` (boxes with ``track_id`` 1..N set,
    in the frames ``detected`` looked at), its observation (``note`` appended) and evidence (each
    track's most confident box)."""
    tracks = tracks_of(tracked)
    n_sampled = len(detected.sampled_frames)
    unsupported = [p for p, lbl in detected.phrase_labels.items() if lbl is None]
    lines = [f"#{t.track_id} {t.label} {t.first_s:.2f}-{t.last_s:.2f} s ({t.n_boxes} boxes)" for t in tracks[:MAX_LISTED]]
    more = f"; and {len(tracks) - MAX_LISTED} more" if len(tracks) > MAX_LISTED else ""
    unsupported_note = f". Not detectable: {', '.join(unsupported)}" if unsupported else ""
    rate = f" (over {n_sampled} frames at {fps_used:.2g} fps)" if n_sampled else " (no frames looked at)"
    observation = f"{len(tracks)} tracks{rate}: " + ("; ".join(lines) or "none") + more + unsupported_note + note
    evidence = []
    for t in tracks[:MAX_LISTED]:
        rows = tracked[tracked.track_id == t.track_id]
        i = int(np.argmax(rows.confidence))
        evidence.append(Evidence(time_s=float(rows.time_s[i]), box=tuple(map(float, rows.xyxy[i])),
                                 note=f"{t.label} #{t.track_id}"))
    result = TracksResult(detections=tracked, tracks=tracks, phrase_labels=detected.phrase_labels,
                          sampled_frames=detected.sampled_frames, sampled_times_s=detected.sampled_times_s)
    return ToolOutput(observation=observation, data=result, evidence=evidence)
