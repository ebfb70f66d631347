"""What a tool function receives besides its arguments: the video, shared models, limits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from tools.errors import ToolTimeout
from tools.types import DecodeStats, Frame, TimeSpan, ToolResult, VideoMeta

if TYPE_CHECKING:
    from tools.runner import ToolRunner
    from tools.video import VideoReader

T = TypeVar("T")


class ModelPool:
    """Models loaded on first use and shared by every tool call of a process.

    ``get("ssd", loader)`` calls ``loader()`` once per key (under a per-key lock, so two tools
    asking at once load it once) and returns the same object afterwards.
    """

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str, loader: Callable[[], T]) -> T:
        if key in self._models:
            return self._models[key]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._models:
                self._models[key] = loader()
        return self._models[key]

    def loaded(self) -> list[str]:
        return sorted(self._models)


#: One pool per process: a second question in the same process reuses loaded models.
SHARED_MODELS = ModelPool()


@dataclass
class CallCounters:
    """Work done by one tool call: frames decoded, frames run through each model."""

    decode: DecodeStats = field(default_factory=DecodeStats)
    model_frames: dict[str, int] = field(default_factory=dict)
    nested_cache_hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_model_frames(self, model: str, n: int) -> None:
        with self._lock:
            self.model_frames[model] = self.model_frames.get(model, 0) + int(n)


@dataclass
class ToolContext:
    """Run-time dependencies of one tool call.

    ``deadline`` is a ``time.monotonic()`` value; long tools call ``check()`` between units of
    work so a timed-out or cancelled call stops early instead of running on in its thread.
    """

    video: "VideoReader"
    runner: "ToolRunner"
    models: ModelPool = field(default_factory=lambda: SHARED_MODELS)
    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float = float("inf")
    counters: CallCounters = field(default_factory=CallCounters)

    @property
    def meta(self) -> VideoMeta:
        return self.video.meta

    def check(self) -> None:
        """Raise ToolTimeout if this call was cancelled or ran past its deadline."""
        if self.cancel.is_set() or time.monotonic() > self.deadline:
            raise ToolTimeout("the tool call ran out of time")

    def span_or_all(self, span: TimeSpan | None) -> TimeSpan:
        """``span`` limited to the video, or the whole video when None."""
        whole = TimeSpan(start_s=0.0, end_s=self.meta.duration_s)
        return whole if span is None else span.clip(self.meta.duration_s)

    # Frame access, counted against this call.
    def frames_at_fps(self, fps: float, span: TimeSpan | None = None, size=None) -> list[Frame]:
        return self.video.at_fps(fps, span=span, size=size, stats=self.counters.decode)

    def frames_uniform(self, n: int, span: TimeSpan | None = None, size=None) -> list[Frame]:
        return self.video.uniform(n, span=span, size=size, stats=self.counters.decode)

    def frames_by_index(self, indices: list[int], size=None) -> list[Frame]:
        return self.video.frames(indices, size=size, stats=self.counters.decode)

    def frame_at(self, time_s: float, size=None) -> Frame:
        return self.video.frame_at(time_s, size=size, stats=self.counters.decode)

    def frame_index_at(self, time_s: float) -> int:
        """Index of the frame whose presentation time is nearest to ``time_s`` (the video's one
        time-to-frame mapping; see ``VideoReader.index_at``). Decodes nothing."""
        return self.video.index_at(time_s)

    def count_model_frames(self, model: str, n: int) -> None:
        self.counters.add_model_frames(model, n)

    def call(self, name: str, **args: Any) -> ToolResult:
        """Call another tool on the same video through the runner (cached like any call).

        Derived tools use this to build on detections or tracks already computed.
        """
        return self.runner.run_nested(name, args, parent=self)
