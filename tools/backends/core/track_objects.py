"""Generic backend of ``track_objects``: ByteTrack over whatever ``detect_objects`` backend the
profile has (lite SSD, full Grounding DINO, a user's plugin)."""

from __future__ import annotations

import numpy as np

from tools.capabilities import TRACK_OBJECTS, DetectionsResult, TrackObjectsArgs, TracksResult
from tools.context import ToolContext
from tools.appearance import FEATURE_DIM, colour_features
from tools.detections import Detections
from tools.registry import backend
from tools.tracking import sampling_rate, track, tracks_of
from tools.types import Evidence, ToolOutput

MAX_LISTED = 15
APPEARANCE_WIDTH = 640
"""Frames wider than this are shrunk before their boxes' colours are measured."""
CHUNK_FRAMES = 32


def appearance(dets: Detections, ctx: ToolContext) -> np.ndarray:
    """(len(dets), FEATURE_DIM) colour features of every box, decoding its frames in chunks."""
    out = np.zeros((len(dets), FEATURE_DIM), np.float32)
    meta = ctx.meta
    size = None
    if meta.width > APPEARANCE_WIDTH:
        size = (APPEARANCE_WIDTH, max(2, int(round(meta.height * APPEARANCE_WIDTH / meta.width / 2)) * 2))
    indices = sorted(set(dets.frame_index.tolist()))
    for start in range(0, len(indices), CHUNK_FRAMES):
        ctx.check()
        for frame in ctx.frames_by_index(indices[start : start + CHUNK_FRAMES], size=size):
            rows = np.nonzero(dets.frame_index == frame.index)[0]
            sx, sy = frame.image.shape[1] / meta.width, frame.image.shape[0] / meta.height
            boxes = dets.xyxy[rows] * np.array([sx, sy, sx, sy], dtype=np.float32)
            out[rows] = colour_features(frame.image, boxes)
    return out


@backend(TRACK_OBJECTS, name="bytetrack", requires=("detect_objects",), timeout_s=300, version="2",
         limits="Identities are kept by motion and clothing colour; people dressed alike who cross may swap.")
def track_objects(args: TrackObjectsArgs, ctx: ToolContext) -> ToolOutput[TracksResult]:
    detected: DetectionsResult = ctx.call_data("detect_objects", **args.model_dump(mode="json"))
    sampled = list(zip(detected.sampled_frames, detected.sampled_times_s))
    fps_used = sampling_rate(sampled, args.fps)
    boxes = detected.detections
    if detected.low_score is not None and len(detected.low_score):
        boxes = Detections.merge([boxes, detected.low_score])
    features = appearance(boxes, ctx)
    tracked = track(boxes, sampled, fps_used, features=features, frame_size=(ctx.meta.width, ctx.meta.height))
    return tracks_output(tracked, detected, fps_used)


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
