"""Which frames a detector looks at: a rate over a span, within a frame budget, at a width."""

from __future__ import annotations

from dataclasses import dataclass

from tools.context import ToolContext
from tools.types import Frame, TimeSpan


@dataclass(frozen=True)
class SampledFrames:
    """Frames taken at ``fps_used`` frames per second (lowered from the rate asked for when
    the span would need more than the budget), shrunk to at most the width asked for.

    ``scale``: (x, y) factors from the shrunk frames' pixels to source pixels.
    """

    frames: list[Frame]
    fps_used: float
    fps_asked: float
    scale: tuple[float, float]

    @property
    def lowered(self) -> bool:
        return self.fps_used < self.fps_asked - 1e-9

    def header(self) -> str:
        """One line for an observation: how many frames, at what rate (and why it is lower)."""
        if not self.frames:
            return "looked at no frames"
        why = f" (lowered from {self.fps_asked:.2g} fps to stay within {len(self.frames)} frames)" if self.lowered else ""
        return f"looked at {len(self.frames)} frames at {self.fps_used:.2g} fps{why}"


def sample_frames(ctx: ToolContext, span: TimeSpan | None, fps: float, max_width: int | None = None) -> SampledFrames:
    """Frames at ``fps`` in ``span`` (the whole video when None), at most ``ctx.max_frames``
    (None: no limit; otherwise the rate is lowered to fit), shrunk to ``max_width`` pixels
    wide when wider (None: source size)."""
    whole = ctx.span_or_all(span)
    max_frames = ctx.max_frames
    fps_used = fps if max_frames is None else min(fps, max_frames / max(whole.duration_s, 1e-6))
    meta = ctx.meta
    shrink = max_width is not None and meta.width > max_width
    size = (max_width, max(2, int(round(meta.height * max_width / meta.width / 2)) * 2)) if shrink else None
    frames = ctx.frames_at_fps(fps_used, span=whole, size=size)
    scale = (meta.width / size[0], meta.height / size[1]) if size is not None else (1.0, 1.0)
    return SampledFrames(frames=frames, fps_used=fps_used, fps_asked=fps, scale=scale)
