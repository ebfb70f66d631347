"""Lite backend of ``read_text``: PP-OCRv4 through rapidocr."""

from __future__ import annotations

from tools.backends.lite.models.ocr import OCR_READER, merge_reads
from tools.capabilities import READ_TEXT, ReadTextArgs
from tools.context import ToolContext
from tools.observations import narrow_span_note
from tools.registry import backend
from tools.types import Evidence, ToolOutput

OCR = "pp-ocrv4"
MAX_OCR_FRAMES = 60
MIN_READ_SCORE = 0.6


@backend(READ_TEXT, name="pp-ocrv4", version="3", profiles=("lite",), timeout_s=300)
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
    looked = f"{len(per_frame)} frames at {fps:.2g} fps over {span.start_s:.2f}-{span.end_s:.2f} s"
    if not merged:
        return ToolOutput(observation=f"No text read in {looked}." + narrow_span_note(args.span, ctx.meta.duration_s),
                          evidence=[])
    return ToolOutput(observation=f"Text read: {words_summary(merged)}. Where ({looked}): " + "; ".join(lines) + more,
                      evidence=evidence)


def words_summary(merged) -> str:
    """Each distinct text once (case aside; a read contained in a longer one counts for it), most
    read first, with how often and when: the answer to "what does it say", ahead of the boxes.
    ``merged``: MergedRead list ordered by time."""
    by_text: dict[str, list] = {}
    for m in merged:
        by_text.setdefault(m.text.strip().upper(), []).append(m)
    # A cut-off read ("AXI" of a sign entering the frame) counts for the full text read elsewhere.
    for short in sorted(by_text, key=len):
        longer = [t for t in by_text if len(t) > len(short) and short in t]
        if longer and len(short) >= 2:
            by_text[max(longer, key=lambda t: sum(r.n_reads for r in by_text[t]))] += by_text.pop(short)
    parts = []
    ranked = sorted(by_text.items(), key=lambda kv: (-sum(r.n_reads for r in kv[1]), -len(kv[0])))
    for _, reads in ranked[:10]:
        n = sum(r.n_reads for r in reads)
        first, last = min(r.first_s for r in reads), max(r.last_s for r in reads)
        when = f"{first:.2f} s" if last - first < 0.005 else f"{first:.2f}-{last:.2f} s"
        spelled = max(reads, key=lambda r: (len(r.text), r.n_reads)).text
        parts.append(f'"{spelled}" ({n} read{"s" if n > 1 else ""}, {when})')
    return ", ".join(parts)
