"""Full backend of ``detect_objects``: Grounding DINO, open vocabulary (any phrase is looked for).

Frames go through the model in batches of the run's batch size, on its device, one batch at a
time per device; boxes come back in source pixels. Tracking, counting, timelines and motion come
from the generic backends in ``tools.backends.core`` over these boxes.
"""

from __future__ import annotations

import numpy as np

from tools.backends.full.models.grounding_dino import BOX_THRESHOLD, GROUNDING_DINO, TEXT_THRESHOLD, build_prompt
from tools.capabilities import DETECT_OBJECTS, DetectionsResult, DetectObjectsArgs
from tools.context import ToolContext
from tools.detections import Detections
from tools.observations import describe_label
from tools.registry import backend
from tools.sampling import SampledFrames, sample_frames
from tools.types import ToolOutput

#: Frames wider than this are shrunk before the processor (which resizes to 800-1333 px anyway).
DETECT_WIDTH = 1333


def run_grounding_dino(sampled: SampledFrames, phrases: list[str], ctx: ToolContext,
                       box_threshold: float = BOX_THRESHOLD, text_threshold: float = TEXT_THRESHOLD) -> Detections:
    """Grounding DINO boxes of ``phrases`` in the sampled frames, in source pixels, labelled with
    the phrase as ``build_prompt`` normalises it (``data['query']``: the model query of each box)."""
    model = ctx.load(GROUNDING_DINO)
    prompt = build_prompt(phrases)
    batch = ctx.batch_size(GROUNDING_DINO)
    scale = np.array([*sampled.scale, *sampled.scale], dtype=np.float32)
    parts = []
    for start in range(0, len(sampled.frames), batch):
        chunk = sampled.frames[start : start + batch]
        with ctx.on_device():
            found = model.detect([f.image for f in chunk], prompt.phrases, box_threshold, text_threshold)
        ctx.count_model_frames(GROUNDING_DINO.name, len(chunk))
        for frame, boxes in zip(chunk, found):
            n = len(boxes.xyxy)
            parts.append(Detections(
                xyxy=boxes.xyxy * scale, confidence=boxes.score, label=np.array(prompt.phrases)[boxes.phrase],
                frame_index=np.full(n, frame.index), time_s=np.full(n, frame.time_s), data={"query": boxes.query},
            ))
    return Detections.merge(parts)


@backend(DETECT_OBJECTS, name="grounding-dino", profiles=("full",), timeout_s=600, models=(GROUNDING_DINO.name,),
         limits="Open-vocabulary: any short noun phrase, with attributes ('red car', 'man with a dog').")
def detect_objects(args: DetectObjectsArgs, ctx: ToolContext) -> ToolOutput[DetectionsResult]:
    sampled = sample_frames(ctx, args.span, args.fps, DETECT_WIDTH)
    dets = run_grounding_dino(sampled, list(args.phrases), ctx)
    prompt = build_prompt(args.phrases)
    lines, evidence = [], []
    for phrase, label in zip(args.phrases, prompt.phrases):
        text, ev = describe_label(dets, label)
        lines.append(f"'{phrase}': {text}")
        evidence += ev
    result = DetectionsResult(
        detections=dets,
        phrase_labels=dict(zip(args.phrases, prompt.phrases)),
        sampled_frames=[f.index for f in sampled.frames],
        sampled_times_s=[round(f.time_s, 4) for f in sampled.frames],
    )
    return ToolOutput(observation=sampled.header() + ". " + "; ".join(lines), data=result, evidence=evidence)
