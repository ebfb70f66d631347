"""``video_info``: the video's metadata, for a planner that needs duration, fps or size."""

from __future__ import annotations

from tools.capabilities import VIDEO_INFO, VideoInfoArgs
from tools.context import ToolContext
from tools.registry import backend
from tools.types import ToolOutput, VideoMeta


@backend(VIDEO_INFO, name="container", cacheable=False, timeout_s=10)
def video_info(args: VideoInfoArgs, ctx: ToolContext) -> ToolOutput[VideoMeta]:
    m = ctx.meta
    return ToolOutput(
        observation=(
            f"duration {m.duration_s:.2f} s, {m.fps:.3g} fps, {m.n_frames} frames, "
            f"{m.width}x{m.height} px, codec {m.codec}"
        ),
        data=m,
    )
