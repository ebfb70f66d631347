"""Lite backend of ``read_text`` (PP-OCRv4 through rapidocr) and the weight-free ``dominant_color``."""

from __future__ import annotations

from tools.capabilities import DominantColorArgs, ReadTextArgs
from tools.context import ToolContext
from tools.registry import tool
from tools.types import Evidence, ToolOutput

OCR = "pp-ocrv4"
MAX_OCR_FRAMES = 60
MIN_READ_SCORE = 0.6


@tool("read_text", backend="pp-ocrv4", version="1", profiles=("lite",), timeout_s=300)
def read_text(args: ReadTextArgs, ctx: ToolContext) -> ToolOutput:
    """Read text visible in the video (signs, captions, plates) in frames sampled at `fps`.
    Repeated reads of the same text are merged; each read comes with its first and last
    times (seconds) and box (x1, y1, x2, y2 pixels)."""
    from tools.models.ocr import merge_reads, shared_reader

    span = ctx.span_or_all(args.span)
    fps = min(args.fps, MAX_OCR_FRAMES / max(span.duration_s, 1e-6))
    reader = ctx.models.get("ocr", shared_reader)
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


@tool("dominant_color", backend="hsv-names", version="1", profiles=("core", "lite", "full"), timeout_s=30)
def dominant_color(args: DominantColorArgs, ctx: ToolContext) -> ToolOutput:
    """Name the main colour (red, orange, yellow, green, blue, purple, pink, brown, black,
    white, grey) inside a box of the frame at a time, or of the whole frame. Take boxes from
    detect_objects or track_objects."""
    from tools.models.colors import dominant_color as estimate

    frame = ctx.frame_at(args.time_s)
    box = None
    if args.box is not None:
        x1, y1, x2, y2 = args.box
        box = (max(0.0, x1), max(0.0, y1), min(float(ctx.meta.width), x2), min(float(ctx.meta.height), y2))
        if box[2] <= box[0] or box[3] <= box[1]:
            from tools.errors import ToolRetry

            raise ToolRetry(f"box {args.box} lies outside the {ctx.meta.width}x{ctx.meta.height} frame")
    found = estimate(frame.image, box)
    runners_up = sorted(found.fractions.items(), key=lambda kv: -kv[1])[1:3]
    also = ", ".join(f"{name} {share:.0%}" for name, share in runners_up if share >= 0.05)
    text = f"{found.name} ({found.fraction:.0%} of the region" + (f"; also {also}" if also else "") + ")"
    return ToolOutput(observation=f"at {frame.time_s:.2f} s: {text}",
                      evidence=[Evidence(time_s=frame.time_s, box=box, note=f"mostly {found.name}")])
