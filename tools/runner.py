"""Execute tool calls: validate arguments, consult the cache, run with a time limit, never raise.

Every call ends as a ``ToolResult``: ``ok``; ``retry`` for arguments the planner should fix
(unknown tool, schema violation, ``ToolRetry``); ``error`` for a tool that raised or ran past
its time limit. Independent calls of one planner step run concurrently in daemon threads, so a
tool that hangs costs its time limit and no more (the thread is abandoned, its cancel event set).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from tools.cache import CacheKey, ResultCache
from tools.context import ToolContext
from tools.errors import MissingExtraError, ToolRetry, ToolTimeout, VidagentError
from tools.model_loading import MODELS, ModelLoader
from tools.registry import ToolBackend
from tools.toolset import ToolSet
from tools.types import Evidence, ToolCall, ToolOutput, ToolResult
from tools.video import VideoReader

log = logging.getLogger(__name__)

MAX_OBSERVATION_CHARS = 2000


@dataclass
class ToolRunner:
    """Runs the calls of one video's questions against one ToolSet.

    ``cache`` may be None (no caching). ``timeout_s`` caps every call; a backend's own
    ``timeout_s`` may only lower it. ``max_parallel`` bounds concurrent calls of one step.
    Models load through ``models`` on the toolset's device. ``max_frames``: the most frames
    one call of a sampling tool looks at (None: no limit; see ``ToolContext.max_frames``).
    """

    toolset: ToolSet
    video: VideoReader
    cache: ResultCache | None = None
    timeout_s: float = 120.0
    max_parallel: int = 4
    models: ModelLoader = field(default_factory=lambda: MODELS)
    max_frames: int | None = 240

    def run(self, calls: list[ToolCall], deadline: float = float("inf")) -> list[ToolResult]:
        """Run ``calls`` concurrently; results come back in the order of ``calls``.

        ``deadline`` (``time.monotonic()``) is the run's wall budget: no call runs past it.
        """
        results: list[ToolResult | None] = [None] * len(calls)
        gate = threading.Semaphore(self.max_parallel)
        workers = []
        for i, call in enumerate(calls):
            ctx = self._context(call, deadline)
            worker = threading.Thread(
                target=self._run_in_thread, args=(call, ctx, results, i, gate), daemon=True, name=f"tool-{call.name}"
            )
            workers.append((worker, call, ctx))
            worker.start()
        for i, (worker, call, ctx) in enumerate(workers):
            worker.join(max(0.0, ctx.deadline - time.monotonic()) + 0.05)
            if worker.is_alive() or results[i] is None:
                ctx.cancel.set()
                limit = self._limit(call)
                why = (
                    f"timed out after {limit:g} s and was abandoned"
                    if ctx.deadline < deadline
                    else "was stopped: the question's time budget ran out"
                )
                results[i] = self._result(call, ctx, "error", f"{call.name} {why}", seconds=limit)
        return results  # type: ignore[return-value]

    def run_nested(self, name: str, args: dict[str, Any], parent: ToolContext) -> ToolResult:
        """Run one call synchronously inside another tool's call (same deadline and cancel)."""
        call = ToolCall(name=name, args=args)
        ctx = ToolContext(video=self.video, runner=self, models=self.models, device=self.toolset.device,
                          max_frames=self.max_frames, cancel=parent.cancel, deadline=parent.deadline,
                          options=self.toolset.models)
        result = self._execute(call, ctx)
        parent.counters.decode.add(decoded=ctx.counters.decode.frames_decoded)
        for model, n in ctx.counters.model_frames.items():
            parent.count_model_frames(model, n)
        parent.counters.nested_cache_hits += int(result.cache_hit) + result.nested_cache_hits
        return result

    def cache_key(self, backend: ToolBackend, args: BaseModel) -> CacheKey:
        """The result-cache key of ``backend`` run with validated ``args`` on this runner's video."""
        return cache_key(self.video.meta.sha256, backend, self.toolset, args)

    # -- internals -------------------------------------------------------------------------

    def _limit(self, call: ToolCall) -> float:
        backend = self.toolset.get(call.name)
        return min(self.timeout_s, backend.timeout_s) if backend else self.timeout_s

    def _context(self, call: ToolCall, run_deadline: float) -> ToolContext:
        deadline = min(run_deadline, time.monotonic() + self._limit(call))
        return ToolContext(video=self.video, runner=self, models=self.models, device=self.toolset.device,
                           max_frames=self.max_frames, deadline=deadline, options=self.toolset.models)

    def _run_in_thread(self, call, ctx, results, i, gate) -> None:
        with gate:
            results[i] = self._execute(call, ctx)

    def _execute(self, call: ToolCall, ctx: ToolContext) -> ToolResult:
        started = time.monotonic()
        backend = self.toolset.get(call.name)
        if backend is None:
            known = ", ".join(self.toolset.names())
            return self._result(call, ctx, "retry", f"unknown tool {call.name!r}; available tools: {known}")
        try:
            args = backend.args_model.model_validate(call.args)
        except ValidationError as exc:
            return self._result(call, ctx, "retry", _argument_errors(call.name, exc), backend=backend)

        key = self.cache_key(backend, args) if self._caches(backend) else None
        if key is not None:
            cached = self._cache_get(key, backend)
            if cached is not None:
                return self._result(call, ctx, "ok", cached.observation, cached, backend, time.monotonic() - started, True)

        try:
            ctx.check()
            output = backend.fn(args, ctx)
            _check_output(output, backend)
        except ToolRetry as exc:
            return self._result(call, ctx, "retry", str(exc), backend=backend, seconds=time.monotonic() - started)
        except ToolTimeout:
            return self._result(
                call, ctx, "error", f"{call.name} timed out after {self._limit(call):.0f} s",
                backend=backend, seconds=time.monotonic() - started,
            )
        except (VidagentError, MissingExtraError) as exc:
            return self._result(call, ctx, "error", f"{call.name} failed: {exc}", backend=backend,
                                seconds=time.monotonic() - started)
        except Exception as exc:  # a tool bug becomes an observation, never a crashed run
            log.debug("tool %s raised", call.name, exc_info=True)
            return self._result(
                call, ctx, "error", f"{call.name} failed: {type(exc).__name__}: {exc}; try other arguments or another tool",
                backend=backend, seconds=time.monotonic() - started,
            )
        seconds = time.monotonic() - started
        output = _with_frame_indices(output, ctx)
        if key is not None and not ctx.cancel.is_set():
            self._cache_put(key, output, seconds)
        return self._result(call, ctx, "ok", output.observation, output, backend, seconds)

    def _caches(self, backend: ToolBackend) -> bool:
        return self.cache is not None and backend.cacheable

    def _cache_get(self, key: CacheKey, backend: ToolBackend) -> ToolOutput | None:
        try:
            return self.cache.get(key, backend.result_model)
        except Exception as exc:  # a cache problem must not fail the call: recompute
            log.warning("result cache read failed for %s: %s", backend.name, exc)
            return None

    def _cache_put(self, key: CacheKey, output: ToolOutput, seconds: float) -> None:
        try:
            self.cache.put(key, output, seconds)
        except Exception as exc:
            log.warning("result cache write failed for %s: %s", key.tool, exc)

    def _result(
        self,
        call: ToolCall,
        ctx: ToolContext,
        status: str,
        observation: str,
        output: ToolOutput | None = None,
        backend: ToolBackend | None = None,
        seconds: float = 0.0,
        cache_hit: bool = False,
    ) -> ToolResult:
        if len(observation) > MAX_OBSERVATION_CHARS:
            observation = observation[: MAX_OBSERVATION_CHARS - 40] + f" ... (truncated, {len(observation)} chars)"
        return ToolResult(
            call_id=call.id,
            name=call.name,
            args=call.args,
            status=status,
            observation=observation,
            data=output.data if output is not None else None,
            evidence=list(output.evidence) if output is not None else [],
            backend=backend.backend if backend else "",
            cache_hit=cache_hit,
            seconds=seconds,
            frames_decoded=ctx.counters.decode.frames_decoded,
            model_frames=dict(ctx.counters.model_frames),
            nested_cache_hits=ctx.counters.nested_cache_hits,
        )


def cache_key(video_sha256: str, backend: ToolBackend, toolset: ToolSet, args: BaseModel) -> CacheKey:
    """The result-cache key of ``backend`` of ``toolset`` run with validated ``args`` on a video: the
    backend's version carries the toolset's weights overrides of the models the backend declares."""
    return CacheKey.of(video_sha256, _keyed(backend, toolset), args.model_dump(mode="json"))


def _keyed(backend: ToolBackend, toolset: ToolSet) -> ToolBackend:
    """``backend`` with the run's weights overrides of its models folded into its version (the
    cache key's), so a fine-tuned checkpoint never gets another checkpoint's cached results."""
    overrides = [f"{m}={toolset.models.weights[m]}" for m in backend.models if m in toolset.models.weights]
    return dataclasses.replace(backend, version=f"{backend.version}+{','.join(overrides)}") if overrides else backend


def _check_output(output: object, backend: ToolBackend) -> None:
    """Raise TypeError unless ``output`` is a ToolOutput carrying the capability's result model."""
    if not isinstance(output, ToolOutput):
        raise TypeError(f"tool {backend.name} returned {type(output).__name__}, not ToolOutput")
    expected = backend.result_model
    if expected is None and output.data is not None:
        raise TypeError(f"backend {backend.backend!r} of {backend.name} returned data, but the capability has no result model")
    if expected is not None and not isinstance(output.data, expected):
        raise TypeError(f"backend {backend.backend!r} of {backend.name} returned {type(output.data).__name__}, "
                        f"not the capability's {expected.__name__}")


def _argument_errors(name: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "(arguments)"
        parts.append(f"{loc}: {err['msg']}")
    return f"invalid arguments for {name}: " + "; ".join(parts) + ". Fix them and call again."


def _with_frame_indices(output: ToolOutput, ctx: ToolContext) -> ToolOutput:
    """Fill in the frame index of evidence that gives only a time."""
    if all(e.frame_index is not None for e in output.evidence):
        return output
    filled = [
        e if e.frame_index is not None else Evidence(**{**e.model_dump(), "frame_index": ctx.frame_index_at(e.time_s)})
        for e in output.evidence
    ]
    return output.model_copy(update={"evidence": filled})
