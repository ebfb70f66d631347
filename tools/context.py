"""What a tool function receives besides its arguments: the video, the model loader, limits."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from tools.errors import ToolRetry, ToolTimeout
from tools.model_loading import MODELS, ModelLoader, ModelOptions, ModelSpec, Weights, acquire_gate
from tools.types import DecodeStats, Frame, TimeSpan, ToolResult, VideoMeta

if TYPE_CHECKING:
    from tools.runner import ToolRunner
    from tools.video import VideoReader

T = TypeVar("T")


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
    ``device``: where this run's models go (``cpu``, ``cuda``, ``cuda:1``).
    ``max_frames``: the most frames one call of a sampling tool looks at (its rate is lowered
    to fit, and its observation says so); None: no limit (evaluations that track every frame).
    ``options``: weights overrides, precision, batch sizes and the memory budget of this run.
    """

    video: "VideoReader"
    runner: "ToolRunner"
    models: ModelLoader = field(default_factory=lambda: MODELS)
    device: str = "cpu"
    max_frames: int | None = 240
    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float = float("inf")
    counters: CallCounters = field(default_factory=CallCounters)
    options: ModelOptions = field(default_factory=ModelOptions)

    def load(self, spec: ModelSpec[T], weights: Weights | None = None) -> T:
        """The model ``spec`` describes, on this run's device (built once per process), from
        ``weights``, else the run's ``[tools] weights`` entry for it, else the spec's default."""
        return self.models.load(spec, self.device, weights or self.options.weights.get(spec.name),
                                precision=self.options.precision, budget_bytes=self.options.budget_bytes)

    def batch_size(self, spec: ModelSpec) -> int:
        """Frames per forward pass for ``spec``'s model: the run's ``[tools] batch_size`` entry, else the spec's."""
        return max(1, int(self.options.batch_sizes.get(spec.name, spec.batch_size)))

    @contextmanager
    def on_device(self):
        """Hold this run's device while running a model on it (one forward pass at a time per
        device). Waiting stops with ToolTimeout at this call's deadline; a check on entry makes
        a cancelled call stop before its next batch instead of running beside the next call."""
        gate = self.models.device_gate(self.device)
        acquire_gate(gate, self.check)
        try:
            self.check()
            yield
        finally:
            gate.release()

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

    def call_data(self, name: str, **args: Any):
        """``call``, returning the result's data; raises ToolRetry when the other tool asked for
        different arguments and RuntimeError when it failed, so the caller's call ends the same way."""
        result = self.call(name, **args)
        if result.status == "retry":
            raise ToolRetry(f"{name} could not run: {result.observation}")
        if result.status != "ok":
            raise RuntimeError(f"{name} failed: {result.observation}")
        return result.data
