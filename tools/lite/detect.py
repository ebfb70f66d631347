"""Lite backends of ``detect_objects`` and ``track_objects``: SSD-MobileNet-v2 (COCO) + ByteTrack.

Phrases map to COCO labels by a synonym table and MiniLM similarity; a phrase with no close
label is reported as not detectable, never matched to something wrong. Colour words in a
phrase ("red car") filter the boxes by their dominant colour.
"""

from __future__ import annotations

import numpy as np

from tools.capabilities import DetectionsResult, DetectObjectsArgs, Track, TrackObjectsArgs, TracksResult
from tools.context import ToolContext
from tools.detections import Detections
from tools.registry import tool
from tools.types import Evidence, ToolOutput

DETECTOR = "ssd_mobilenet_v2_coco"
MAX_FRAMES = 240
DETECT_WIDTH = 640  # frames wider than this are shrunk before detection (SSD sees 300x300 anyway)
MIN_CONFIDENCE = 0.35
MIN_TRACK_BOXES = 2
LITE = ("lite",)


def phrase_matches(phrases: list[str], ctx: ToolContext):
    from tools.models.phrase_mapping import PhraseMapper

    mapper = ctx.models.get("phrase_mapper", PhraseMapper)
    return mapper.map_many(phrases)


def sample_frames(ctx: ToolContext, span, fps: float):
    """Frames at ``fps`` in ``span``, at most MAX_FRAMES (the rate is lowered to fit), shrunk
    to DETECT_WIDTH. Returns (frames, scale from frame pixels to source pixels, fps used)."""
    whole = ctx.span_or_all(span)
    fps_used = min(fps, MAX_FRAMES / max(whole.duration_s, 1e-6))
    meta = ctx.meta
    scale = max(1.0, meta.width / DETECT_WIDTH)
    size = None if scale == 1.0 else (DETECT_WIDTH, max(2, int(round(meta.height / scale / 2)) * 2))
    frames = ctx.frames_at_fps(fps_used, span=whole, size=size)
    if size is not None:
        scale_x, scale_y = meta.width / size[0], meta.height / size[1]
    else:
        scale_x = scale_y = 1.0
    return frames, (scale_x, scale_y), fps_used


def run_detector(frames, scale, labels: set[str], ctx: ToolContext) -> Detections:
    from tools.models.ssd_detector import shared_detector

    detector = ctx.models.get("ssd", shared_detector)
    parts = []
    for start in range(0, len(frames), 8):
        ctx.check()
        chunk = frames[start : start + 8]
        found = detector.detect([f.image for f in chunk], min_confidence=MIN_CONFIDENCE, classes=labels)
        ctx.count_model_frames(DETECTOR, len(chunk))
        for frame, dets in zip(chunk, found):
            d = dets.to_detections(frame.index, frame.time_s)
            if scale != (1.0, 1.0) and len(d):
                d = Detections(d.xyxy * np.array([*scale, *scale], dtype=np.float32), d.confidence, d.label,
                               d.frame_index, d.time_s)
            parts.append(d)
    return Detections.merge(parts)


def filter_by_colour(dets: Detections, label: str, colours: tuple[str, ...], ctx: ToolContext) -> Detections:
    """Keep boxes of ``label`` whose dominant colour is one of ``colours`` (others untouched)."""
    from tools.models.colors import has_color

    keep = np.ones(len(dets), dtype=bool)
    for i in np.nonzero(dets.label == label)[0]:
        frame = ctx.frames_by_index([int(dets.frame_index[i])])[0]
        keep[i] = any(has_color(frame.image, dets.xyxy[i].tolist(), c) for c in colours)
    return dets[keep]


def _describe(dets: Detections, label: str) -> tuple[str, list[Evidence]]:
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


def detect(args: DetectObjectsArgs, ctx: ToolContext) -> tuple[DetectionsResult, str, list[Evidence]]:
    matches = phrase_matches(args.phrases, ctx)
    phrase_labels = {m.phrase: m.label for m in matches}
    labels = {m.label for m in matches if m.label}
    frames, scale, fps_used = sample_frames(ctx, args.span, args.fps) if labels else ([], (1.0, 1.0), args.fps)
    dets = run_detector(frames, scale, labels, ctx) if labels else Detections.empty()
    for m in matches:
        if m.label and m.attributes:
            dets = filter_by_colour(dets, m.label, m.attributes, ctx)
    result = DetectionsResult(
        detections=dets,
        phrase_labels=phrase_labels,
        sampled_frames=[f.index for f in frames],
        sampled_times_s=[round(f.time_s, 4) for f in frames],
    )
    lines, evidence = [], []
    for m in matches:
        if m.label is None:
            hint = f" (nearest detectable class: {m.nearest})" if m.nearest else ""
            lines.append(f"'{m.phrase}': not detectable by this COCO-class detector{hint}")
            continue
        text, ev = _describe(dets, m.label)
        colour = f" ({'/'.join(m.attributes)} only)" if m.attributes else ""
        lines.append(f"'{m.phrase}' -> {m.label}{colour}: {text}")
        evidence += ev
    header = f"looked at {len(frames)} frames at {fps_used:.2g} fps" if frames else "looked at no frames"
    return result, header + ". " + "; ".join(lines), evidence


@tool("detect_objects", backend="ssd-mobilenet-coco", version="1", profiles=LITE, result_model=DetectionsResult,
      timeout_s=300)
def detect_objects(args: DetectObjectsArgs, ctx: ToolContext) -> ToolOutput:
    """Find objects named by short phrases in frames sampled at `fps`, with times and boxes
    (x1, y1, x2, y2 pixels). This CPU detector knows the 80 COCO classes (person, bicycle,
    car, motorcycle, bus, truck, traffic light, dog, cat, chair, cup, ...); phrases are mapped
    to them and a phrase with no matching class is reported as not detectable."""
    result, observation, evidence = detect(args, ctx)
    return ToolOutput(observation=observation, data=result, evidence=evidence)


# -- tracking ------------------------------------------------------------------------------


def track(dets: Detections, sampled: list[tuple[int, float]], fps: float) -> Detections:
    """ByteTrack per label over the sampled frames (empty frames included, so tracks age).

    Track ids are renumbered 1..N in order of first appearance across labels.
    """
    from trackers import ByteTrackTracker

    from tools.errors import require

    sv = require("supervision", "lite")
    out = []
    for label in sorted(set(dets.label.tolist())):
        tracker = ByteTrackTracker(
            frame_rate=fps,
            lost_track_buffer=max(2, int(round(2 * fps))),
            track_activation_threshold=0.5,
            minimum_consecutive_frames=2,
            high_conf_det_threshold=0.5,
        )
        mine = dets[dets.label == label]
        for frame_index, time_s in sampled:
            rows = mine[mine.frame_index == frame_index]
            tracked = tracker.update(
                sv.Detections(xyxy=rows.xyxy.astype(np.float32), confidence=rows.confidence,
                              class_id=np.zeros(len(rows), dtype=int)),
                timestamp=time_s,
            )
            keep = tracked.tracker_id >= 0 if tracked.tracker_id is not None else np.zeros(len(tracked), bool)
            if keep.any():
                n = int(keep.sum())
                out.append((label, Detections(
                    xyxy=tracked.xyxy[keep], confidence=tracked.confidence[keep], label=np.full(n, label),
                    frame_index=np.full(n, frame_index), time_s=np.full(n, time_s), track_id=tracked.tracker_id[keep],
                )))
    return _renumber(out)


def _renumber(parts: list[tuple[str, Detections]]) -> Detections:
    empty = Detections(np.zeros((0, 4)), [], [], [], [], track_id=np.zeros(0, dtype=np.int64))
    if not parts:
        return empty
    merged = Detections.merge([d for _, d in parts])
    keys = np.array([f"{lbl}#{tid}" for lbl, tid in zip(merged.label, merged.track_id)])
    names, counts = np.unique(keys, return_counts=True)
    lasting = np.isin(keys, names[counts >= MIN_TRACK_BOXES])  # one-box tracks are detector flicker
    merged, keys = merged[lasting], keys[lasting]
    if not len(merged):
        return empty
    first_seen: dict[str, float] = {}
    for key, t in zip(keys, merged.time_s):
        first_seen[key] = min(first_seen.get(key, t), t)
    order = {key: i + 1 for i, key in enumerate(sorted(first_seen, key=lambda k: (first_seen[k], k)))}
    ids = np.array([order[k] for k in keys], dtype=np.int64)
    return Detections(merged.xyxy, merged.confidence, merged.label, merged.frame_index, merged.time_s, track_id=ids)


def tracks_of(dets: Detections) -> list[Track]:
    tracks = []
    for tid in np.unique(dets.track_id):
        rows = dets[dets.track_id == tid]
        tracks.append(Track(track_id=int(tid), label=str(rows.label[0]), first_s=float(rows.time_s.min()),
                            last_s=float(rows.time_s.max()), n_boxes=len(rows)))
    return sorted(tracks, key=lambda t: t.track_id)


@tool("track_objects", backend="ssd-bytetrack", version="1", profiles=LITE, result_model=TracksResult, timeout_s=300)
def track_objects(args: TrackObjectsArgs, ctx: ToolContext) -> ToolOutput:
    """Follow objects named by short phrases over time (ByteTrack over COCO-class detections):
    one id per object, with first and last seen times and per-frame boxes. Use it to tell
    objects apart over time; count_objects, object_timeline and motion_direction build on it."""
    found = ctx.call("detect_objects", **args.model_dump(mode="json"))
    if found.status != "ok":
        raise RuntimeError(f"detect_objects failed: {found.observation}")
    detected: DetectionsResult = found.data
    sampled = list(zip(detected.sampled_frames, detected.sampled_times_s))
    fps_used = (len(sampled) - 1) / max(sampled[-1][1] - sampled[0][1], 1e-6) if len(sampled) > 1 else args.fps
    tracked = track(detected.detections, sampled, fps_used)
    tracks = tracks_of(tracked)
    unsupported = [p for p, lbl in detected.phrase_labels.items() if lbl is None]
    lines = [f"#{t.track_id} {t.label} {t.first_s:.2f}-{t.last_s:.2f} s ({t.n_boxes} boxes)" for t in tracks[:15]]
    more = f"; and {len(tracks) - 15} more" if len(tracks) > 15 else ""
    note = f". Not detectable: {', '.join(unsupported)}" if unsupported else ""
    observation = f"{len(tracks)} tracks: " + ("; ".join(lines) or "none") + more + note
    evidence = []
    for t in tracks[:15]:
        rows = tracked[tracked.track_id == t.track_id]
        i = int(np.argmax(rows.confidence))
        evidence.append(Evidence(time_s=float(rows.time_s[i]), box=tuple(map(float, rows.xyxy[i])),
                                 note=f"{t.label} #{t.track_id}"))
    result = TracksResult(detections=tracked, tracks=tracks, phrase_labels=detected.phrase_labels,
                          sampled_frames=detected.sampled_frames, sampled_times_s=detected.sampled_times_s)
    return ToolOutput(observation=observation, data=result, evidence=evidence)
