"""Full backend of ``segment_objects``: SAM2 masks from box prompts, Grounded-SAM style.

Phrases are found by the profile's ``detect_objects`` (a cached nested call) and each frame's
boxes prompt SAM2 once; given boxes prompt it directly in the frame at ``time_s``. Masks are at
source resolution in ``Detections.mask`` (run-length encoded in the result cache), and every
row's ``xyxy`` is the tight box around its mask.
"""

from __future__ import annotations

import numpy as np

from tools.backends.full.models.sam2 import SAM2
from tools.capabilities import SEGMENT_OBJECTS, DetectionsResult, SegmentationResult, SegmentObjectsArgs
from tools.context import ToolContext
from tools.detections import Detections
from tools.masks import mask_boxes
from tools.registry import backend
from tools.types import Evidence, Frame, ToolOutput

#: Masks are full resolution: at most this many per frame (most confident boxes first) and per call.
MAX_MASKS_PER_FRAME = 10
MAX_MASKS = 100


def segment_boxes(frame: Frame, xyxy: np.ndarray, labels: list[str], confidence: np.ndarray,
                  ctx: ToolContext) -> Detections:
    """SAM2 masks of the (k, 4) pixel boxes in ``frame``; rows whose mask is empty are dropped."""
    model = ctx.load(SAM2)
    with ctx.on_device():
        masks, scores = model.segment(frame.image, xyxy)
    ctx.count_model_frames(SAM2.name, 1)
    keep = masks.reshape(len(masks), -1).any(axis=1)
    n = int(keep.sum())
    return Detections(
        xyxy=mask_boxes(masks[keep]), confidence=confidence[keep], label=np.array(labels)[keep],
        frame_index=np.full(n, frame.index), time_s=np.full(n, frame.time_s), mask=masks[keep],
        data={"mask_score": scores[keep]},
    )


def _prompts_from_detections(detected: DetectionsResult) -> tuple[list[int], dict[int, np.ndarray]]:
    """Per sampled frame, the rows of its most confident boxes, within the per-frame and per-call caps."""
    dets, budget, rows = detected.detections, MAX_MASKS, {}
    for index in detected.sampled_frames:
        mine = np.nonzero(dets.frame_index == index)[0]
        mine = mine[np.argsort(-dets.confidence[mine], kind="stable")][: min(MAX_MASKS_PER_FRAME, budget)]
        if len(mine):
            rows[index] = mine
            budget -= len(mine)
    return detected.sampled_frames, rows


@backend(SEGMENT_OBJECTS, name="sam2", profiles=("full",), requires=("detect_objects",), timeout_s=900,
         models=(SAM2.name,),
         limits=f"Segments at most {MAX_MASKS_PER_FRAME} objects per frame and {MAX_MASKS} per call, most confident first.")
def segment_objects(args: SegmentObjectsArgs, ctx: ToolContext) -> ToolOutput[SegmentationResult]:
    parts, capped = [], False
    if args.boxes is not None:
        frame = ctx.frame_at(args.time_s)
        labels = list(args.phrases) * len(args.boxes) if len(args.phrases) == 1 else list(args.phrases)
        boxes = np.array(args.boxes, dtype=np.float32).clip(0, [ctx.meta.width, ctx.meta.height] * 2)
        parts.append(segment_boxes(frame, boxes, labels, np.ones(len(boxes), np.float32), ctx))
        phrase_labels = {p: p for p in args.phrases}
        sampled = [(frame.index, frame.time_s)]
    else:
        span = args.span.model_dump() if args.span is not None else None
        detected: DetectionsResult = ctx.call_data("detect_objects", phrases=list(args.phrases), span=span, fps=args.fps)
        indices, rows = _prompts_from_detections(detected)
        capped = sum(len(r) for r in rows.values()) < len(detected.detections)
        frames = {f.index: f for f in ctx.frames_by_index(sorted(rows))} if rows else {}
        dets = detected.detections
        for index in sorted(rows):
            ctx.check()
            r = rows[index]
            parts.append(segment_boxes(frames[index], dets.xyxy[r], dets.label[r].tolist(), dets.confidence[r], ctx))
        phrase_labels = detected.phrase_labels
        sampled = list(zip(indices, detected.sampled_times_s))
    result_dets = Detections.merge(parts)
    result = SegmentationResult(detections=result_dets, phrase_labels=phrase_labels,
                                sampled_frames=[i for i, _ in sampled], sampled_times_s=[round(t, 4) for _, t in sampled])
    observation, evidence = _describe(result_dets, phrase_labels, len(sampled), ctx.meta.width * ctx.meta.height)
    if capped:
        observation += f" (segmented the most confident boxes only: {MAX_MASKS_PER_FRAME} per frame, {MAX_MASKS} in all)"
    return ToolOutput(observation=observation, data=result, evidence=evidence)


def _describe(dets: Detections, phrase_labels: dict[str, str | None], n_frames: int, frame_pixels: int):
    lines, evidence = [], []
    areas = dets.mask.reshape(len(dets), -1).sum(axis=1) / frame_pixels if len(dets) else np.zeros(0)
    for phrase, label in phrase_labels.items():
        mine = np.nonzero(dets.label == label)[0]
        if not len(mine):
            lines.append(f"'{phrase}': no mask")
            continue
        best = mine[np.argmax(areas[mine])]
        box = tuple(round(float(v)) for v in dets.xyxy[best])
        lines.append(f"'{phrase}': {len(mine)} masks in {len(set(dets.frame_index[mine].tolist()))} frames, "
                     f"{areas[mine].mean():.1%} of the frame on average; largest {areas[best]:.1%} at "
                     f"{dets.time_s[best]:.2f} s, box {box}")
        evidence.append(Evidence(time_s=float(dets.time_s[best]), box=tuple(map(float, dets.xyxy[best])),
                                 note=f"{label}: largest mask ({areas[best]:.1%} of the frame)"))
    return f"segmented {n_frames} frames. " + "; ".join(lines), evidence
