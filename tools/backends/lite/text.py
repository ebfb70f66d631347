"""Lite backend of ``read_text``: PP-OCRv4 through rapidocr."""

from __future__ import annotations

from tools.backends.lite.models.ocr import OCR_READER, merge_reads
from tools.capabilities import READ_TEXT, ReadTextArgs
from tools.context import ToolContext
from tools.registry import backend
from tools.types import Evidence, ToolOutput

OCR = "pp-ocrv4"
MAX_OCR_FRAMES = 60
MIN_READ_SCORE = 0.6


@backend(READ_TEXT, name="pp-ocrv4", profiles=("lite",), timeout_s=300)
def read_text(args: ReadTextArgs, ctx: ToolContext) -> ToolOutput:
    span = ctx.span_or_all(args.span)
    fps = min(args.fps, MAX_OCR_FRAMES / max(span.duration_s, 1e-6))
    reader = ctx.load(OCR_READER)
    per_frame = []
    for frame in ctx.frames_at_fps(fps, span=span):
        ctx.check()
        reads = [r for r in reader.read(frame.image) if r.score >= MIN_READ_SCORE and any(c.isalnum() for c in r.text)]
        ctx.count_model_frames(OCR, 1)
        per_frame.append((frame.time_s, reads))
    merged = merge_reads(per_frame, max_gap_s=1.5 / fps)
    lines = [
        f'"{m.text}" {m.first_s:.2f}-{m.last_s:.2f} s ({m.n_reads} frames, score {m.score:.2f}) box '
        f"{tuple(round(v) for v in m.box)}"
        for m in merged[:20]
    ]
    more = f"; and {len(merged) - 20} more" if len(merged) > 20 else ""
    evidence = [Evidence(time_s=m.first_s, box=tuple(m.box), note=f'text "{m.text}"') for m in merged[:20]]
    header = f"read {len(per_frame)} frames at {fps:.2g} fps: "
    return ToolOutput(observation=header + ("; ".join(lines) or "no text found") + more, evidence=evidence)
