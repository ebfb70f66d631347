"""Evaluate a whole pipeline on a suite: ``run_suite(suite, pipeline, RunOptions(out_dir=...))``.

The parent process loads the samples, writes the manifest, hands samples to an executor
(``evals.executors``: local processes or Ray actors running ``SampleWorker.answer``), scores
each answer with the suite and appends one row per sample to the run directory
(``evals.run_dir``). Samples whose video is missing never reach a worker: they become error
rows (``SampleScore.missing_video``). With ``resume=True`` the samples already in
``results.jsonl`` are skipped, after repairing what an interrupted run left behind.
"""

from __future__ import annotations

import dataclasses

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.types import Answer
from evals.executors import Completion, ExecutorName, make_executor
from evals.metrics import RunSummary, summarize
from evals.pipeline import Pipeline, sha256_file
from evals.progress import RunProgress
from evals.provenance import (
    Manifest,
    ModelIdentity,
    PipelineInfo,
    Session,
    SuiteInfo,
    git_state,
    machine_info,
    now_iso,
    planner_identity,
    tool_identities,
    vidagent_version,
)
from evals.record import SampleRecording
from evals.run_dir import PIPELINE_COPY, ResultRow, RunDir, RunDirError, RunWriter
from evals.run_start import start_or_resume
from evals.samples import Grounding, Sample, SampleScore
from evals.suites.base import Suite
from evals.worker import SampleTask, WorkerSpec


@dataclass(frozen=True)
class RunOptions:
    """How to run. ``timeout_s``: per-sample wall-time limit in seconds (None: no limit
    beyond the pipeline's own budgets). ``replay``: a run directory made with ``record``."""

    out_dir: Path
    videos_dir: Path | None = None
    limit: int | None = None
    workers: int = 1
    resume: bool = False
    executor: ExecutorName = "local"
    record: bool = False
    replay: Path | None = None
    timeout_s: float | None = None
    progress: bool = True

    @property
    def mode(self) -> str:
        if self.record and self.replay is not None:
            raise ValueError("record and replay exclude each other")
        return "replay" if self.replay is not None else ("record" if self.record else "run")

    def as_args(self) -> dict[str, Any]:
        return {
            "out": str(self.out_dir), "videos": str(self.videos_dir) if self.videos_dir else None,
            "limit": self.limit, "workers": self.workers, "resume": self.resume, "executor": self.executor,
            "record": self.record, "replay": str(self.replay) if self.replay else None, "timeout_s": self.timeout_s,
        }


@dataclass(frozen=True)
class RunOutcome:
    """What ``run_suite`` did: ``n_skipped`` samples were already done (resume),
    ``n_written`` rows were added now; ``summary`` covers every row of the run."""

    run_dir: RunDir
    n_selected: int
    n_skipped: int
    n_written: int
    repairs: tuple[str, ...]
    summary: RunSummary | None


def run_suite(suite: Suite, pipeline: Pipeline, options: RunOptions, *, argv: list[str] | None = None) -> RunOutcome:
    """Run ``pipeline`` on ``suite``'s samples into ``options.out_dir`` (see module docstring)."""
    if suite.kind != "qa":
        raise ValueError(f"suite {suite.name!r} is a {suite.kind} suite: run it with "
                         "evals.tracking_runner.run_tracking_suite")
    mode = options.mode
    run_dir = RunDir(options.out_dir)
    samples = load_samples(suite, options.videos_dir, options.limit)
    recordings = load_recordings(RunDir(options.replay)) if options.replay is not None else {}
    session = Session(started_at=now_iso(), args={**options.as_args(), "argv": argv}, pid=os.getpid())

    done = start_or_resume(
        run_dir, session, resume=options.resume,
        check_same_run=lambda manifest: _check_same_run(manifest, suite, pipeline, mode, options),
        new_manifest=lambda: _new_manifest(suite, pipeline, options, len(samples), session),
        pipeline_path=pipeline.path,
    )
    repairs = session.repairs

    todo = [s for s in samples if s.sample_id not in done]
    progress = RunProgress(len(todo), description=f"{suite.name}/{pipeline.name}", enabled=options.progress)
    written = 0
    try:
        with RunWriter(run_dir, record=mode == "record") as writer:
            for row, trace_line, recording_line in _finished_samples(suite, pipeline, options, todo, recordings):
                writer.write(row, trace_line, recording_line)
                written += 1
                progress.advance(correct=row.correct is True, error=row.status == "error")
    finally:
        progress.close()
    scores = run_dir.scores()
    summary = summarize(scores, suite.qtype_groups) if scores else None
    return RunOutcome(run_dir, len(samples), len(samples) - len(todo), written, tuple(repairs), summary)


def load_samples(suite: Suite, videos_dir: Path | None, limit: int | None) -> list[Sample]:
    """The suite's samples with absolute video paths (workers may run elsewhere)."""
    samples = suite.load(videos_dir, limit)
    return [s.model_copy(update={"video_path": str(Path(s.video_path).resolve())}) if s.video_path else s
            for s in samples]


def load_recordings(run_dir: RunDir) -> dict[str, SampleRecording]:
    """The recordings of a run made with ``--record``, by sample id."""
    manifest = Manifest.model_validate(run_dir.read_manifest())
    if manifest.mode != "record":
        raise RunDirError(f"{run_dir.path} was not recorded (mode {manifest.mode!r}); re-run it with --record")
    return {line["sample_id"]: SampleRecording.model_validate(line) for line in run_dir.recording_lines()}


# -- internals ------------------------------------------------------------------------------


def _new_manifest(suite: Suite, pipeline: Pipeline, options: RunOptions, n_samples: int, session: Session) -> Manifest:
    commit, dirty = git_state()
    cls = type(suite)
    return Manifest(
        vidagent_version=vidagent_version(),
        git_commit=commit,
        git_dirty=dirty,
        started_at=session.started_at,
        suite=SuiteInfo(
            name=suite.name, class_path=f"{cls.__module__}.{cls.__qualname__}", description=suite.description,
            annotations_dir=str(suite.annotations_dir), qtype_groups=dict(suite.qtype_groups),
            qtype_names=dict(suite.qtype_names), n_samples=n_samples,
        ),
        pipeline=PipelineInfo(name=pipeline.name, source_path=str(pipeline.path), copy_file=PIPELINE_COPY,
                              sha256=pipeline.sha256, planner_factory=pipeline.planner_factory),
        models=[_replayed_identity(options.replay) if options.replay else planner_identity(pipeline)],
        tools=tool_identities(pipeline),
        mode=options.mode,
        replay_of=str(Path(options.replay).resolve()) if options.replay else None,
        cache_path=str(pipeline.cache_path()) if pipeline.cache_path() and options.mode != "replay" else None,
        args=session.args,
        machine=machine_info(),
        sessions=[session],
    )


def _replayed_identity(replay: Path) -> ModelIdentity:
    """In a replay the planner is the recording: identified by its file's sha256."""
    path = RunDir(replay).recording_path.resolve()
    return ModelIdentity(role="planner", kind="file", name=f"replay of {Path(replay).name}", path=str(path),
                         sha256=sha256_file(path))


def _check_same_run(manifest: Manifest, suite: Suite, pipeline: Pipeline, mode: str, options: RunOptions) -> None:
    """Resuming must not mix rows from different suites, pipelines or modes."""
    problems = []
    if manifest.suite.name != suite.name:
        problems.append(f"suite {suite.name!r} (the run has {manifest.suite.name!r})")
    if manifest.pipeline.sha256 != pipeline.sha256:
        problems.append(f"pipeline {pipeline.path} with sha256 {pipeline.sha256[:12]} "
                        f"(the run has {manifest.pipeline.sha256[:12]})")
    if manifest.mode != mode:
        problems.append(f"mode {mode!r} (the run has {manifest.mode!r})")
    replay = str(Path(options.replay).resolve()) if options.replay else None
    if manifest.replay_of != replay:
        problems.append(f"replay of {replay} (the run replays {manifest.replay_of})")
    if problems:
        raise RunDirError(f"cannot resume {options.out_dir}: " + "; ".join(problems))


def _finished_samples(
    suite: Suite, pipeline: Pipeline, options: RunOptions, todo: list[Sample], recordings: dict[str, SampleRecording]
) -> Iterator[tuple[ResultRow, dict | None, dict | None]]:
    """``(row, trace line, recording line)`` for every sample of ``todo``, as each finishes."""
    tasks: list[SampleTask] = []
    for sample in todo:
        if sample.video_path is None:
            score = SampleScore.missing_video(sample)
            yield result_row(sample, score, error_kind="missing_video"), None, None
        elif options.mode == "replay" and sample.sample_id not in recordings:
            message = f"the recorded run {options.replay} has no recording of this sample"
            yield result_row(sample, unanswered_score(sample, message), error_kind="not_recorded"), None, None
        else:
            tasks.append(SampleTask(sample=sample, recording=recordings.get(sample.sample_id)))
    if not tasks:
        return
    cache_path = pipeline.cache_path() if options.mode != "replay" else None  # a replay computes nothing to cache
    pipeline = with_planner_threads_shared(pipeline, options.workers)
    spec = WorkerSpec(pipeline=pipeline, cache_path=str(cache_path) if cache_path else None, mode=options.mode)
    executor = make_executor(options.executor, spec, options.workers, options.timeout_s)
    for completion in executor.run(tasks):
        yield _score(suite, completion)


def with_planner_threads_shared(pipeline: Pipeline, workers: int) -> Pipeline:
    """With several workers, each serving its own llama.cpp planner, the cores are split between
    them unless the pipeline sets ``n_threads``: every server taking the idle machine's cores
    would spin them against each other."""
    local = pipeline.config.local_llm
    if workers <= 1 or local is None or local.n_threads is not None:
        return pipeline
    from planners.servers.llamacpp import default_n_threads

    shared = local.model_copy(update={"n_threads": default_n_threads(servers=workers)})
    return dataclasses.replace(pipeline, config=pipeline.config.model_copy(update={"local_llm": shared}))


def _score(suite: Suite, completion: Completion) -> tuple[ResultRow, dict | None, dict | None]:
    sample = completion.task.sample
    outcome = completion.outcome
    if outcome is None:
        return result_row(sample, unanswered_score(sample, completion.failure), error_kind=completion.failure_kind,
                          seconds=completion.seconds), None, None
    if outcome.answer is None:
        score = (SampleScore.missing_video(sample, outcome.failure) if outcome.failure_kind == "video_unreadable"
                 else unanswered_score(sample, outcome.failure))
        return result_row(sample, score, error_kind=outcome.failure_kind, seconds=outcome.seconds,
                          worker_pid=outcome.worker_pid), None, None
    answer = outcome.answer
    error_kind = "agent_error" if answer.status == "error" else None
    try:
        score = suite.score(sample, answer)
    except Exception as exc:  # a judging bug must not lose the answer: it stays in traces.jsonl
        score, error_kind = unanswered_score(sample, f"scoring failed: {type(exc).__name__}: {exc}"), "scoring_error"
    trace_line = {
        "suite": sample.suite, "sample_id": sample.sample_id,
        "answer": answer.model_dump(mode="json", exclude={"trace"}), "trace": answer.trace.model_dump(mode="json"),
    }
    recording_line = outcome.recording.model_dump(mode="json") if outcome.recording is not None else None
    row = result_row(sample, score, answer=answer, error_kind=error_kind, seconds=outcome.seconds,
                     worker_pid=outcome.worker_pid)
    return row, trace_line, recording_line


def unanswered_score(sample: Sample, message: str) -> SampleScore:
    """The error row of a sample the agent produced no answer for (timeout, crash, ...)."""
    return SampleScore(
        suite=sample.suite, sample_id=sample.sample_id, qtype=sample.qtype, status="error", correct=None,
        reference=sample.answer_text, error=message,
        grounding=Grounding(iou=0.0, iop=0.0) if sample.gt_spans else None,
    )


def result_row(
    sample: Sample, score: SampleScore, *, answer: Answer | None = None, error_kind: str | None = None,
    seconds: float | None = None, worker_pid: int | None = None,
) -> ResultRow:
    trace = answer.trace if answer is not None else None
    return ResultRow(
        **score.to_row(),
        answer=answer.text if answer is not None else None,
        choice=answer.choice if answer is not None else None,
        confidence=answer.confidence if answer is not None else None,
        error_kind=error_kind,
        video_id=sample.video_id,
        video_path=sample.video_path,
        run_id=trace.run_id if trace else None,
        budget_hit=trace.budget_hit if trace else None,
        totals=trace.totals.model_dump(mode="json") if trace else None,
        sample_seconds=seconds,
        worker_pid=worker_pid,
        finished_at=now_iso(),
    )
