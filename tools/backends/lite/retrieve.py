"""Lite backends of ``retrieve_frames`` and ``describe_frames``, built on per-frame notes.

With no image-text model available offline, retrieval is label-based: a frame's text is its
ImageNet labels and COCO objects, and MiniLM scores that text against the query.
"""

from __future__ import annotations

import numpy as np

from tools.backends.lite.frame_notes import FrameNote, frame_notes, temporal_top_k
from tools.backends.lite.models.ocr import OCR_READER
from tools.backends.lite.models.text_embedder import TEXT_EMBEDDER
from tools.capabilities import DESCRIBE_FRAMES, RETRIEVE_FRAMES, DescribeFramesArgs, RetrieveFramesArgs
from tools.context import ToolContext
from tools.registry import backend
from tools.types import Evidence, ToolOutput

RETRIEVAL_FPS = 1.0
MAX_RETRIEVAL_FRAMES = 120
NOTE_WIDTH = 640
EMBEDDER = "all-MiniLM-L6-v2"


def _size(ctx: ToolContext):
    meta = ctx.meta
    if meta.width <= NOTE_WIDTH:
        return None
    return NOTE_WIDTH, max(2, int(round(meta.height * NOTE_WIDTH / meta.width / 2)) * 2)


@backend(RETRIEVE_FRAMES, name="labels-minilm", profiles=("lite",), timeout_s=300,
         limits="Label-based on this CPU tier: frames are described by ImageNet scene labels and COCO object "
                "names and those descriptions are matched to the query, so ask for things such labels can name.")
def retrieve_frames(args: RetrieveFramesArgs, ctx: ToolContext) -> ToolOutput:
    span = ctx.span_or_all(args.span)
    fps = min(RETRIEVAL_FPS, MAX_RETRIEVAL_FRAMES / max(span.duration_s, 1e-6))
    frames = ctx.frames_at_fps(fps, span=span, size=_size(ctx))
    notes = frame_notes(frames, ctx)
    embedder = ctx.load(TEXT_EMBEDDER)
    texts = [n.text() for n in notes]
    scores = embedder.embed([args.query])[0] @ embedder.embed(texts).T
    ctx.count_model_frames(EMBEDDER, len(texts))
    times = np.array([n.time_s for n in notes])
    picked = temporal_top_k(times, scores, args.k, min_gap_s=1.5 / fps)
    lines = [f"{notes[i].time_s:.2f} s (score {scores[i]:.2f}): {texts[i]}" for i in picked]
    evidence = [Evidence(time_s=notes[i].time_s, frame_index=notes[i].frame_index, note=f"score {scores[i]:.2f}")
                for i in picked]
    header = f"label-based match of {len(frames)} frames ({fps:.2g} fps) to '{args.query}', best {len(picked)}: "
    return ToolOutput(observation=header + "; ".join(lines), evidence=evidence)


def describe(note: FrameNote, text_reads: list[str]) -> str:
    objects = "; ".join(f"{o.label} ({o.score:.2f}, {o.where})" for o in note.objects[:10]) or "none"
    labels = ", ".join(f"{name} {p:.2f}" for name, p in note.labels) or "nothing recognised"
    text = f"; text: {' | '.join(text_reads)}" if text_reads else ""
    return f"{note.time_s:.2f} s (frame {note.frame_index}): scene labels: {labels}; objects: {objects}{text}"


@backend(DESCRIBE_FRAMES, name="labels-ssd-ocr", profiles=("lite",), timeout_s=300,
         limits="On this CPU tier a description is the frame's top ImageNet scene labels, its COCO objects with "
                "positions (left/centre/right, top/middle/bottom, size) and any text read.")
def describe_frames(args: DescribeFramesArgs, ctx: ToolContext) -> ToolOutput:
    indices = sorted({ctx.frame_index_at(t) for t in args.times})
    frames = ctx.frames_by_index(indices, size=_size(ctx))
    notes = frame_notes(frames, ctx)
    reader = ctx.load(OCR_READER)
    full = ctx.frames_by_index(indices)
    lines, evidence = [], []
    for frame, note in zip(full, notes):
        ctx.check()
        reads = reader.read(frame.image)
        ctx.count_model_frames("pp-ocrv4", 1)
        lines.append(describe(note, [r.text for r in reads]))
        evidence.append(Evidence(time_s=note.time_s, frame_index=note.frame_index, note="described"))
    return ToolOutput(observation="\n".join(lines), evidence=evidence)
