"""Evaluate a tracker on a tracking suite: ``run_tracking_suite(suite, pipeline, TrackingOptions(...))``.

The run directory has the layout of a question-answering run (``evals.run_dir``):
``manifest.json`` (suite kind ``tracking``), ``pipeline.toml`` (when a pipeline tracked),
``results.jsonl`` with one ``evals.tracking.SequenceRow`` per sequence, and
``tracks/<sequence>.txt``, the tracker's output in MOTChallenge format. Sequences run one
after another in this process (a sequence is one long tracker call). ``resume`` skips the
sequences that already have a row. ``evals.report`` prints and writes the report of a
tracking run like that of any other run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.pipeline import Pipeline
from evals.provenance import (
    Manifest,
    PipelineInfo,
    Session,
    SuiteInfo,
    git_state,
    machine_info,
    now_iso,
    tool_identities,
    vidagent_version,
)
from evals.run_dir import PIPELINE_COPY, JsonlAppender, RunDir, RunDirError, scan_jsonl
from evals.run_start import start_or_resume
from evals.suites.mot import MotSuite
from evals.tracking import PipelineTracker, ResultsFiles, SequenceRow, Tracker, process_sequence


@dataclass(frozen=True)
class TrackingOptions:
    """How to run. ``tracks_dir``: score the results files in this folder instead of running a
    pipeline. ``timeout_s``: wall-time limit per sequence, seconds (None: none)."""

    out_dir: Path
    tracks_dir: Path | None = None
    limit: int | None = None
    resume: bool = False
    timeout_s: float | None = None
    progress: bool = True

    @property
    def mode(self) -> str:
        return "score" if self.tracks_dir is not None else "run"

    def as_args(self) -> dict[str, Any]:
        return {"out": str(self.out_dir), "tracks": str(self.tracks_dir) if self.tracks_dir else None,
                "limit": self.limit, "resume": self.resume, "timeout_s": self.timeout_s}


@dataclass(frozen=True)
class TrackingOutcome:
    """What ``run_tracking_suite`` did; ``rows`` are all rows of the run, this session's and earlier ones."""

    run_dir: RunDir
    n_selected: int
    n_skipped: int
    n_written: int
    repairs: tuple[str, ...]
    rows: list[SequenceRow]


def read_rows(run_dir: RunDir) -> list[SequenceRow]:
    """The sequence rows of a tracking run (a damaged last line is skipped)."""
    return [SequenceRow.model_validate(r) for r in scan_jsonl(run_dir.results_path).rows]


def run_tracking_suite(suite: MotSuite, pipeline: Pipeline | None, options: TrackingOptions, *,
                       argv: list[str] | None = None) -> TrackingOutcome:
    """Track (or score) every selected sequence of ``suite`` into ``options.out_dir``."""
    if (pipeline is None) == (options.tracks_dir is None):
        raise ValueError("give either a pipeline to track with or a folder of results files to score")
    sequences = suite.sequences(options.limit)
    run_dir = RunDir(options.out_dir)
    session = Session(started_at=now_iso(), args={**options.as_args(), "argv": argv}, pid=os.getpid())
    done = start_or_resume(
        run_dir, session, resume=options.resume,
        check_same_run=lambda manifest: _check_same_run(manifest, suite, pipeline, options),
        new_manifest=lambda: _new_manifest(suite, pipeline, options, len(sequences), session),
        pipeline_path=pipeline.path if pipeline is not None else None,
    )
    repairs = session.repairs

    todo = [s for s in sequences if s.name not in done]
    tracker: Tracker = (ResultsFiles(options.tracks_dir) if options.tracks_dir is not None
                        else PipelineTracker(pipeline, options.timeout_s))
    results = JsonlAppender(run_dir.results_path)
    try:
        for n, sequence in enumerate(todo, start=1):
            row = process_sequence(suite.name, sequence, tracker, suite.phrases, run_dir.path)
            results.append(row.model_dump(mode="json"))
            if options.progress:
                print(f"{suite.name}: {n}/{len(todo)} {_progress_line(row)}", file=sys.stderr, flush=True)
    finally:
        results.close()
        tracker.close()
    return TrackingOutcome(run_dir, len(sequences), len(sequences) - len(todo), len(todo), tuple(repairs),
                           read_rows(run_dir))


def _progress_line(row: SequenceRow) -> str:
    if row.evaluation is None:
        return f"{row.sample_id}: {row.error_kind}: {row.error}"
    s = row.evaluation.scores()
    hota = f" HOTA {s.hota:.3f}" if s.hota is not None else ""
    return f"{row.sample_id}: MOTA {s.mota:.3f} IDF1 {s.idf1:.3f}{hota} ({row.seconds:.1f} s)"


def _new_manifest(suite: MotSuite, pipeline: Pipeline | None, options: TrackingOptions, n_sequences: int,
                  session: Session) -> Manifest:
    commit, dirty = git_state()
    cls = type(suite)
    return Manifest(
        vidagent_version=vidagent_version(),
        git_commit=commit,
        git_dirty=dirty,
        started_at=session.started_at,
        suite=SuiteInfo(name=suite.name, kind=suite.kind, class_path=f"{cls.__module__}.{cls.__qualname__}",
                        description=suite.description, annotations_dir=str(suite.annotations_dir),
                        n_samples=n_sequences),
        pipeline=(PipelineInfo(name=pipeline.name, source_path=str(pipeline.path), copy_file=PIPELINE_COPY,
                               sha256=pipeline.sha256) if pipeline is not None else None),
        models=[],
        tools=tool_identities(pipeline) if pipeline is not None else [],
        mode=options.mode,
        tracks_dir=str(Path(options.tracks_dir).resolve()) if options.tracks_dir is not None else None,
        cache_path=str(pipeline.cache_path()) if pipeline is not None and pipeline.cache_path() else None,
        args=session.args,
        machine=machine_info(),
        sessions=[session],
    )


def _check_same_run(manifest: Manifest, suite: MotSuite, pipeline: Pipeline | None, options: TrackingOptions) -> None:
    """Resuming must not mix rows from different suites, trackers or modes."""
    problems = []
    if manifest.suite.name != suite.name:
        problems.append(f"suite {suite.name!r} (the run has {manifest.suite.name!r})")
    if manifest.mode != options.mode:
        problems.append(f"mode {options.mode!r} (the run has {manifest.mode!r})")
    if pipeline is not None and (manifest.pipeline is None or manifest.pipeline.sha256 != pipeline.sha256):
        problems.append(f"pipeline {pipeline.path} with sha256 {pipeline.sha256[:12]}")
    tracks = str(Path(options.tracks_dir).resolve()) if options.tracks_dir is not None else None
    if manifest.tracks_dir != tracks:
        problems.append(f"results folder {tracks} (the run scored {manifest.tracks_dir})")
    if problems:
        raise RunDirError(f"cannot resume {options.out_dir}: " + "; ".join(problems))
