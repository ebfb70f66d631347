"""Questions answered in worker threads, their steps recorded as events as they happen.

One ``PlannerSource`` (and so one planner model or endpoint), one toolset and one result cache
serve every question of the process: the second question pays no model start-up.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent.config import AgentConfig
from agent.planner_source import PlannerSource
from agent.types import Answer, TraceStep
from server.store import RunRecord, Store, VideoRecord
from tools.errors import InputError

log = logging.getLogger(__name__)

END = "end"


class Busy(Exception):
    """Every run slot is taken (HTTP 429)."""


class RunManager:
    """Starts runs on at most ``max_active`` threads; a run beyond that is refused (Busy).

    Event types, in order: ``queued``, ``started``, then ``progress`` (a status line), ``plan``
    (the planner's reply: thought, action, tokens, seconds) and ``tools`` (each call with its
    observation and seconds) per step, then ``answer`` or ``error``, and last ``end``.
    """

    def __init__(self, config: AgentConfig, store: Store, *, max_active: int = 1, planner_factory: str | None = None):
        from tools.cache import ResultCache
        from tools.toolset import build_toolset

        self.config = config
        self.store = store
        self.max_active = max_active
        self._slots = threading.BoundedSemaphore(max_active)
        self._pool = ThreadPoolExecutor(max_workers=max_active, thread_name_prefix="vidagent-run")
        self._toolset = build_toolset(config.tools)
        self._cache = None
        if config.cache.enabled:
            self._cache = ResultCache(f"{config.cache.dir}/results.sqlite") if config.cache.dir else ResultCache.default()
        self._factory = planner_factory
        self._source = PlannerSource(config, planner_factory)  # starts a local planner server, if any
        self._closed = False

    @property
    def profile(self) -> str:
        return self._toolset.profile

    @property
    def tool_names(self) -> list[str]:
        """The tools the planner is offered."""
        names = self.config.tools.names
        return sorted(n for n in self._toolset.backends if names is None or n in names)

    @property
    def planner_label(self) -> str:
        """What plans: ``scripted:<file>``, a factory, or the endpoint's model."""
        if self._factory:
            return f"factory:{self._factory}"
        if self.config.planner.kind == "scripted":
            return f"scripted:{Path(self.config.script or '').name}"
        if self.config.local_llm is not None:
            return f"local llama.cpp: {self.config.local_llm.model}"
        return f"{self.config.planner.model} at {self.config.planner.base_url}"

    def submit(self, video: VideoRecord, question: str, options: list[str] | None) -> RunRecord:
        """Record a run and start it; raises Busy when ``max_active`` runs are in progress."""
        if self._closed or not self._slots.acquire(blocking=False):
            raise Busy(f"{self.max_active} run(s) already in progress; retry when one finishes")
        try:
            run = self.store.add_run(video.id, question, options)
            self.store.add_event(run.id, "queued", {"video_id": video.id, "question": question, "options": options})
            self._pool.submit(self._run, run, video)
        except BaseException:
            self._slots.release()
            raise
        return run

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._source.close()
        if self._cache is not None:
            self._cache.close()

    def _run(self, run: RunRecord, video: VideoRecord) -> None:
        from agent.video_agent import VideoAgent

        emit = lambda type_, data: self.store.add_event(run.id, type_, data)  # noqa: E731
        answer: dict[str, Any] | None = None
        error: str | None = None
        try:
            self.store.set_running(run.id)
            planner = self._source.for_question()
            emit("started", {"planner": getattr(planner, "name", type(planner).__name__), "profile": self.profile})
            agent = VideoAgent(
                planner=planner, tools=self._toolset, tool_names=self.config.tools.names, cache=self._cache,
                budgets=self.config.budgets, tool_timeout_s=self.config.tools.timeout_s,
                planning=self.config.planning.style,
                progress=lambda message: emit("progress", {"message": message}),
                on_step=lambda step, phase: emit(*step_event(step, phase)),
            )
            result = agent.ask(video.path, run.question, options=run.options)
            answer = answer_json(result, video)
            emit("answer", {k: answer[k] for k in ("status", "answer", "choice", "confidence", "error", "evidence")})
        except InputError as exc:
            error = str(exc)
        except Exception as exc:  # the run fails, the server stays up; the log has the traceback
            log.exception("run %s failed", run.id)
            error = f"internal error ({type(exc).__name__}); see the server log"
        finally:
            if error is not None:
                emit("error", {"message": error})
            self.store.finish_run(run.id, answer, error)
            emit(END, {"state": "finished" if answer is not None else "failed"})
            self._slots.release()


def step_event(step: TraceStep, phase: str) -> tuple[str, dict[str, Any]]:
    """The ``plan`` or ``tools`` event of a trace step (no raw reply: it can be long)."""
    if phase == "planned":
        return "plan", step.model_dump(include={"index", "kind", "action", "thought", "error", "prompt_tokens",
                                                "completion_tokens", "planner_seconds"})
    calls = [c.model_dump(include={"name", "args", "backend", "status", "observation", "seconds", "cache_hit"})
             for c in step.tool_calls]
    return "tools", {"index": step.index, "calls": calls, "tools_seconds": step.tools_seconds}


def answer_json(answer: Answer, video: VideoRecord) -> dict[str, Any]:
    """The CLI's ``--json`` object, every evidence item with the index of its frame."""
    from tools.video import VideoReader

    out = answer.to_json_dict()
    missing = [e for e in out["evidence"] if e["frame_index"] is None]
    if missing:  # the agent fills them; this keeps the promise for any other answer
        with VideoReader.open(video.path) as reader:
            for e in missing:
                e["frame_index"] = reader.index_at(e["time_s"])
    return out
