"""The per-sample function every executor runs: ``SampleWorker.answer(task) -> SampleOutcome``.

A worker (a local process or a Ray actor) builds one ``SampleWorker`` from a ``WorkerSpec``
when it starts: the pipeline's tools, the shared result cache (SQLite, safe across processes)
and a VideoAgent, reused for every sample. Scoring happens in the parent, so workers never
need the suite.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agent.types import Answer
from agent.planner_source import PlannerSource
from evals.pipeline import Pipeline
from evals.record import (
    OutputCapture,
    RecordingPlanner,
    ReplayPlanner,
    SampleRecording,
    build_recording,
    recording_toolset,
    replay_toolset,
)
from evals.samples import Sample
from tools.errors import VideoError

WorkerMode = Literal["run", "record", "replay"]
FailureKind = Literal["video_unreadable", "worker_error"]


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build its agent; sent once to every worker (picklable).

    ``cache_path``: the result-cache file (None: no cache). ``mode``: ``run``, ``record``
    (also return a SampleRecording per sample) or ``replay`` (answer from the task's
    recording; no planner or model is built).
    """

    pipeline: Pipeline
    cache_path: str | None
    mode: WorkerMode = "run"


class SampleTask(BaseModel):
    """One sample to answer; ``recording`` is set in replay mode."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample: Sample
    recording: SampleRecording | None = None


class SampleOutcome(BaseModel):
    """What a worker returns for one sample: an Answer, or why there is none.

    ``seconds``: wall time spent on the sample, seconds. ``worker_pid``: the process that ran it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample_id: str
    answer: Answer | None = None
    failure: str | None = None
    failure_kind: FailureKind | None = None
    recording: SampleRecording | None = None
    seconds: float = 0.0
    worker_pid: int = 0


class SampleWorker:
    """One worker's agent, answering samples one at a time."""

    def __init__(self, spec: WorkerSpec):
        from agent.video_agent import VideoAgent
        from tools.cache import ResultCache
        from tools.toolset import build_toolset

        self.spec = spec
        config = spec.pipeline.config
        self.toolset = toolset = build_toolset(config.tools)
        self.capture = OutputCapture()
        self.cache = ResultCache(spec.cache_path) if spec.cache_path and spec.mode != "replay" else None
        self.planners = PlannerSource(config, spec.pipeline.planner_factory) if spec.mode != "replay" else None
        self.agent = None
        if spec.mode != "replay":
            tools = recording_toolset(toolset, self.capture) if spec.mode == "record" else toolset
            # the planner is set per sample (see _answer)
            self.agent = VideoAgent(planner=None, tools=tools, cache=self.cache, budgets=config.budgets,
                                    tool_timeout_s=config.tools.timeout_s, planning=config.planning.style)

    def answer(self, task: SampleTask) -> SampleOutcome:
        """Answer one sample; never raises (failures come back in the outcome)."""
        started = time.monotonic()
        sample = task.sample
        try:
            answer, recording = self._answer(task)
        except VideoError as exc:  # the video could not be opened
            return SampleOutcome(sample_id=sample.sample_id, failure=str(exc), failure_kind="video_unreadable",
                                 seconds=time.monotonic() - started, worker_pid=os.getpid())
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            return SampleOutcome(sample_id=sample.sample_id, failure=detail, failure_kind="worker_error",
                                 seconds=time.monotonic() - started, worker_pid=os.getpid())
        return SampleOutcome(sample_id=sample.sample_id, answer=answer, recording=recording,
                             seconds=time.monotonic() - started, worker_pid=os.getpid())

    def _answer(self, task: SampleTask) -> tuple[Answer, SampleRecording | None]:
        sample = task.sample
        if self.spec.mode == "replay":
            return self._replay(task), None
        planner = self.planners.for_question()
        if self.spec.mode == "record":
            planner = RecordingPlanner(planner)
            self.capture.clear()
        self.agent.planner = planner  # the agent is reused; only the per-sample planner changes
        answer = self.agent.ask(sample.video_path, sample.question, options=sample.options)
        if self.spec.mode != "record":
            return answer, None
        recording = build_recording(suite=sample.suite, sample_id=sample.sample_id, answer=answer, planner=planner,
                                    capture=self.capture, toolset=self.toolset, cache=self.cache)
        return answer, recording

    def _replay(self, task: SampleTask) -> Answer:
        from agent.video_agent import VideoAgent

        if task.recording is None:
            raise ValueError("replay task without a recording")
        config = self.spec.pipeline.config
        agent = VideoAgent(planner=ReplayPlanner(task.recording), tools=replay_toolset(self.toolset, task.recording),
                           cache=None, budgets=config.budgets, tool_timeout_s=config.tools.timeout_s,
                           planning=config.planning.style)
        return agent.ask(task.sample.video_path, task.sample.question, options=task.sample.options)

    def close(self) -> None:
        if self.planners is not None:
            self.planners.close()
