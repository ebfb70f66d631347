"""Weight-free backend of ``dominant_color``: colour names from HSV pixel statistics."""

from __future__ import annotations

from tools.backends.core.colors import dominant_color as estimate
from tools.capabilities import DOMINANT_COLOR, DominantColorArgs
from tools.context import ToolContext
from tools.errors import ToolRetry
from tools.registry import backend
from tools.types import Evidence, ToolOutput


@backend(DOMINANT_COLOR, name="hsv-names", timeout_s=30)
def dominant_color(args: DominantColorArgs, ctx: ToolContext) -> ToolOutput:
    frame = ctx.frame_at(args.time_s)
    box = None
    if args.box is not None:
        x1, y1, x2, y2 = args.box
        box = (max(0.0, x1), max(0.0, y1), min(float(ctx.meta.width), x2), min(float(ctx.meta.height), y2))
        if box[2] <= box[0] or box[3] <= box[1]:
            raise ToolRetry(f"box {args.box} lies outside the {ctx.meta.width}x{ctx.meta.height} frame")
    found = estimate(frame.image, box)
    runners_up = sorted(found.fractions.items(), key=lambda kv: -kv[1])[1:3]
    also = ", ".join(f"{name} {share:.0%}" for name, share in runners_up if share >= 0.05)
    text = f"{found.name} ({found.fraction:.0%} of the region" + (f"; also {also}" if also else "") + ")"
    return ToolOutput(observation=f"at {frame.time_s:.2f} s: {text}",
                      evidence=[Evidence(time_s=frame.time_s, box=box, note=f"mostly {found.name}")])
