"""Lite backend of ``detect_objects``: SSD-MobileNet-v2 (COCO), phrases mapped to COCO labels.

Phrases map to COCO labels by a synonym table and MiniLM similarity; a phrase with no close
label is reported as not detectable, never matched to something wrong. Colour words in a
phrase ("red car") filter the boxes by their dominant colour. Tracking, counting, timelines
and motion come from the generic backends in ``tools.backends.core`` over these boxes.
"""

from __future__ import annotations

import numpy as np

from tools.backends.lite.models.phrase_mapping import PHRASE_MAPPER
from tools.backends.lite.models.ssd_detector import SSD_DETECTOR
from tools.capabilities import DETECT_OBJECTS, DetectionsResult, DetectObjectsArgs
from tools.context import ToolContext
from tools.detections import Detections
from tools.observations import describe_label, narrow_span_note, not_detectable
from tools.registry import backend
from tools.sampling import SampledFrames, sample_frames
from tools.types import Evidence, ToolOutput

DETECTOR = "ssd_mobilenet_v2_coco"
DETECT_WIDTH = 640  # frames wider than this are shrunk before detection (SSD sees 300x300 anyway)
MIN_CONFIDENCE = 0.35
"""Boxes at or above this are reported (observation, evidence, ``detections``)."""
LOW_SCORE_CONFIDENCE = 0.2
"""Boxes from here up to MIN_CONFIDENCE are kept as ``low_score`` for trackers: on pedestrian
footage about half of them are people the detector half sees (occluded, blurred), the rest clutter."""


def run_detector(sampled: SampledFrames, labels: set[str], ctx: ToolContext,
                 min_confidence: float = MIN_CONFIDENCE) -> Detections:
    """SSD boxes of ``labels`` scoring at least ``min_confidence`` in the sampled frames, scaled
    to source pixels."""
    detector = ctx.load(SSD_DETECTOR)
    frames, scale = sampled.frames, sampled.scale
    parts = []
    for start in range(0, len(frames), 8):
        ctx.check()
        chunk = frames[start : start + 8]
        found = detector.detect([f.image for f in chunk], min_confidence=min_confidence, classes=labels)
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
    from tools.backends.core.colors import has_color

    keep = np.ones(len(dets), dtype=bool)
    for i in np.nonzero(dets.label == label)[0]:
        frame = ctx.frames_by_index([int(dets.frame_index[i])])[0]
        keep[i] = any(has_color(frame.image, dets.xyxy[i].tolist(), c) for c in colours)
    return dets[keep]


def detect(args: DetectObjectsArgs, ctx: ToolContext) -> tuple[DetectionsResult, str, list[Evidence]]:
    matches = ctx.load(PHRASE_MAPPER).map_many(args.phrases)
    phrase_labels = {m.phrase: m.label for m in matches}
    labels = {m.label for m in matches if m.label}
    if labels:
        sampled = sample_frames(ctx, args.span, args.fps, DETECT_WIDTH)
        dets = run_detector(sampled, labels, ctx, min_confidence=LOW_SCORE_CONFIDENCE)
    else:
        sampled, dets = SampledFrames([], args.fps, args.fps, (1.0, 1.0)), Detections.empty()
    for m in matches:
        if m.label and m.attributes:
            dets = filter_by_colour(dets, m.label, m.attributes, ctx)
    low_score = dets[dets.confidence < MIN_CONFIDENCE]
    dets = dets[dets.confidence >= MIN_CONFIDENCE]
    result = DetectionsResult(
        detections=dets,
        low_score=low_score,
        phrase_labels=phrase_labels,
        sampled_frames=[f.index for f in sampled.frames],
        sampled_times_s=[round(f.time_s, 4) for f in sampled.frames],
    )
    lines, evidence = [], []
    for m in matches:
        if m.label is None:
            lines.append(not_detectable(m.phrase, m.nearest))
            continue
        text, ev = describe_label(dets, m.label)
        colour = f" ({'/'.join(m.attributes)} only)" if m.attributes else ""
        lines.append(f"'{m.phrase}' -> {m.label}{colour}: {text}")
        evidence += ev
    nothing = "" if evidence else narrow_span_note(args.span, ctx.meta.duration_s)
    return result, sampled.header() + ". " + "; ".join(lines) + nothing, evidence


@backend(DETECT_OBJECTS, name="ssd-mobilenet-coco", profiles=("lite",), timeout_s=300, version="4",
         limits="This CPU detector knows the 80 COCO classes (person, bicycle, car, motorcycle, bus, truck, traffic "
                "light, dog, cat, chair, cup, ...); phrases are mapped to them.")
def detect_objects(args: DetectObjectsArgs, ctx: ToolContext) -> ToolOutput[DetectionsResult]:
    result, observation, evidence = detect(args, ctx)
    return ToolOutput(observation=observation, data=result, evidence=evidence)
