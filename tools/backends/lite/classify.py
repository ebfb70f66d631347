"""Lite backend of ``classify_frames``: ImageNet-1k labels of whole frames (EfficientNet-Lite3)."""

from __future__ import annotations

from collections import Counter

from tools.backends.lite.models.image_classifier import IMAGE_CLASSIFIER
from tools.capabilities import CLASSIFY_FRAMES, ClassifyFramesArgs, FrameLabels, FrameLabelsResult, ImageLabel
from tools.context import ToolContext
from tools.registry import backend
from tools.types import Evidence, Frame, ToolOutput

CLASSIFIER = "efficientnet_lite3"
MAX_SAMPLED = 60
CLASSIFY_WIDTH = 640
"""Frames wider than this are shrunk by the decoder first (the network sees 280x280 anyway)."""
MIN_SHOWN_SCORE = 0.05
"""Labels below this probability are kept in the data but not shown to the planner."""


def _frames(args: ClassifyFramesArgs, ctx: ToolContext) -> tuple[list[Frame], str]:
    meta = ctx.meta
    size = None
    if meta.width > CLASSIFY_WIDTH:
        size = (CLASSIFY_WIDTH, max(2, int(round(meta.height * CLASSIFY_WIDTH / meta.width / 2)) * 2))
    if args.times is not None:
        indices = sorted({ctx.frame_index_at(t) for t in args.times})
        return ctx.frames_by_index(indices, size=size), f"{len(indices)} frames"
    span = ctx.span_or_all(args.span)
    fps = min(args.fps, MAX_SAMPLED / max(span.duration_s, 1e-6))
    frames = ctx.frames_at_fps(fps, span=span, size=size)
    return frames, f"{len(frames)} frames at {fps:.2g} fps over {span.start_s:.2f}-{span.end_s:.2f} s"


@backend(CLASSIFY_FRAMES, name="efficientnet-lite3-imagenet", profiles=("lite",), timeout_s=300,
         limits="Labels are the 1000 ImageNet classes (many animals, objects and a few scenes; no people, no actions).")
def classify_frames(args: ClassifyFramesArgs, ctx: ToolContext) -> ToolOutput[FrameLabelsResult]:
    frames, looked = _frames(args, ctx)
    classifier = ctx.load(IMAGE_CLASSIFIER)
    labelled: list[FrameLabels] = []
    for start in range(0, len(frames), 8):
        ctx.check()
        chunk = frames[start : start + 8]
        for frame, top in zip(chunk, classifier.classify([f.image for f in chunk], top_k=args.top_k)):
            labels = [ImageLabel(name=p.label, score=round(p.score, 3)) for p in top]
            labelled.append(FrameLabels(frame_index=frame.index, time_s=round(frame.time_s, 4), labels=labels))
        ctx.count_model_frames(CLASSIFIER, len(chunk))
    lines = []
    for f in labelled:
        shown = ", ".join(f"{lbl.name} {lbl.score:.2f}" for lbl in f.labels if lbl.score >= MIN_SHOWN_SCORE)
        lines.append(f"{f.time_s:.2f} s: {shown or 'nothing confident'}")
    best = Counter(f.labels[0].name for f in labelled if f.labels and f.labels[0].score >= MIN_SHOWN_SCORE)
    summary = ", ".join(f"{name} ({n})" for name, n in best.most_common(5))
    observation = f"ImageNet labels of {looked}" + (f"; most often first: {summary}" if summary else "") + ". "
    evidence = [Evidence(time_s=f.time_s, frame_index=f.frame_index, note=f"{f.labels[0].name} {f.labels[0].score:.2f}")
                for f in labelled if f.labels]
    return ToolOutput(observation=observation + "; ".join(lines), data=FrameLabelsResult(frames=labelled),
                      evidence=evidence)
