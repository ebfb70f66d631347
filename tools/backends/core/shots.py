"""``detect_shots``: hard cuts between shots, weight-free (colour-content change)."""

from __future__ import annotations

from tools.capabilities import DETECT_SHOTS, DetectShotsArgs, Shot, ShotsResult
from tools.context import ToolContext
from tools.registry import backend
from tools.shots import detect_shot_boundaries
from tools.types import Evidence, ToolOutput


@backend(DETECT_SHOTS, name="hsv-content", version="3", timeout_s=300)
def detect_shots(args: DetectShotsArgs, ctx: ToolContext) -> ToolOutput[ShotsResult]:
    span = ctx.span_or_all(args.span)
    cuts = detect_shot_boundaries(ctx.video, span=span, stats=ctx.counters.decode)
    shots = shots_between(cuts, span, ctx)
    cut_times = [round(c.time_s, 3) for c in cuts]
    text = ", ".join(f"{t:.2f}" for t in cut_times) or "none"
    # Shots first: small planners tend to repeat the first number they read.
    where = f"{span.start_s:.2f}-{span.end_s:.2f} s"
    if cuts:
        cut_words = "1 cut" if len(cuts) == 1 else f"{len(cuts)} cuts"
        observation = f"{len(shots)} shots in {where}, separated by {cut_words} at {text} s"
    else:
        observation = f"1 shot in {where}: no cut, one continuous take"
    return ToolOutput(
        observation=observation,
        data=ShotsResult(cut_times_s=cut_times, shots=shots),
        evidence=[Evidence(time_s=c.time_s, frame_index=c.frame_index, note="cut") for c in cuts],
    )


def shots_between(cuts, span, ctx: ToolContext) -> list[Shot]:
    """Shots delimited by ``cuts`` inside ``span`` (a cut starts a new shot at its frame)."""
    starts = [(span.start_s, ctx.frame_index_at(span.start_s))] + [(c.time_s, c.frame_index) for c in cuts]
    ends = [(c.time_s, c.frame_index - 1) for c in cuts] + [(span.end_s, ctx.frame_index_at(span.end_s))]
    return [
        Shot(index=i, start_s=round(s[0], 3), end_s=round(e[0], 3), start_frame=s[1], end_frame=max(s[1], e[1]))
        for i, (s, e) in enumerate(zip(starts, ends))
    ]
