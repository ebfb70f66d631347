"""Which frames a vision-capable planner sees each step, and how they are encoded.

Each step's frames go only into that step's request (earlier steps are rendered as text, so the
server's prompt cache keeps them), so every step chooses afresh:

- the first step, or a step whose latest tool results point at no frame: an overview, frames
  evenly spaced over the video (the centres of equal parts);
- after tool results that cite frames (their evidence: a frame index, or a time): those frames,
  and when they are more than the budget, a subset spread evenly over them in time.

A retry after a rejected reply, or the forced answer turn, sees the same frames as the turn
before it (its history is the same). The budget is ``VisionLimits``: images per step, and a
longest side and a pixel count per image.
"""

from __future__ import annotations

from typing import Callable, Sequence

from planners.base import HistoryStep, ImagePart, Planner
from planners.config import VisionLimits
from tools.frame_images import encode_jpeg
from tools.video import VideoReader

ImageSource = Callable[[int, tuple[HistoryStep, ...]], tuple[ImagePart, ...]]
#: The video's time-to-frame mapping (``VideoReader.index_at``): seconds -> frame index.
IndexAt = Callable[[float], int]


def evenly_spaced(n_frames: int, k: int) -> list[int]:
    """``k`` frame indices at the centres of ``k`` equal parts of ``n_frames`` frames (all of
    them when ``k >= n_frames``), ascending.

    >>> evenly_spaced(250, 4)
    [31, 93, 156, 218]
    """
    if k <= 0 or n_frames <= 0:
        return []
    if k >= n_frames:
        return list(range(n_frames))
    return [int((i + 0.5) * n_frames / k) for i in range(k)]


def spread(indices: Sequence[int], k: int) -> list[int]:
    """At most ``k`` of the ascending ``indices``, evenly spread (first and last kept).

    >>> spread([3, 10, 40, 41, 90], 3)
    [3, 40, 90]
    """
    n = len(indices)
    if k <= 0:
        return []
    if n <= k:
        return list(indices)
    if k == 1:
        return [indices[n // 2]]
    return [indices[round(i * (n - 1) / (k - 1))] for i in range(k)]


def pointed_frames(step: HistoryStep, n_frames: int, index_at: IndexAt) -> list[int]:
    """The frames the observations of ``step`` cite as evidence (a frame index, else the frame
    ``index_at`` maps the time to), ascending and unique, within ``0 .. n_frames - 1``."""
    found = set()
    for obs in step.observations:
        for ev in obs.evidence:
            index = ev.frame_index if ev.frame_index is not None else index_at(ev.time_s)
            found.add(min(max(index, 0), n_frames - 1))
    return sorted(found)


def choose_frames(history: Sequence[HistoryStep], max_images: int, n_frames: int, index_at: IndexAt) -> list[int]:
    """Frame indices to show the planner for a step with ``history`` (see the module docstring)."""
    if max_images <= 0:
        return []
    pointed = pointed_frames(history[-1], n_frames, index_at) if history else []
    if pointed:
        return spread(pointed, max_images)
    return evenly_spaced(n_frames, max_images)


def image_source(planner: Planner, reader: VideoReader) -> ImageSource:
    """``(turn, history) -> images`` for ``planner``: nothing for a planner that cannot see."""
    limits: VisionLimits | None = getattr(planner, "vision_limits", None)
    if limits is None or not limits.enabled or limits.max_images <= 0:
        return lambda turn, history: ()

    encoded: dict[int, ImagePart] = {}  # a retry or a forced answer shows the frames again

    def images(turn: int, history: tuple[HistoryStep, ...]) -> tuple[ImagePart, ...]:
        indices = choose_frames(history, limits.max_images, reader.meta.n_frames, reader.index_at)
        for i in indices:
            if i not in encoded:
                encoded[i] = image_part(reader, i, limits)
        return tuple(encoded[i] for i in indices)

    return images


def image_part(reader: VideoReader, index: int, limits: VisionLimits) -> ImagePart:
    """Frame ``index`` as a JPEG within the per-image budget of ``limits``."""
    frame = reader.frame(index)
    image = encode_jpeg(frame.image, limits.max_image_side or None, limits.max_image_pixels or None)
    return ImagePart(time_s=frame.time_s, frame_index=frame.index, jpeg_b64=image.jpeg_b64,
                     width=image.width, height=image.height)
