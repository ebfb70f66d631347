"""Score a trained recogniser checkpoint on a folder-actions suite, without the agent:
``run_recognizer_suite(suite, RecognizerRunOptions(out_dir=..., checkpoint=...))``.

The run directory has the layout of a question-answering run (``evals.run_dir``), so
``vidagent eval report`` and ``compare`` read it like any other: ``manifest.json`` (the
"pipeline" is the checkpoint, identified by its ``weights.pt``'s sha256; the model is listed with
role ``recognizer``), a copy of the checkpoint's ``recognizer.json``, and ``results.jsonl`` with
one ``ResultRow`` per clip: the predicted label as the answer, its option index as the choice and
prediction, its probability as the confidence. A clip that does not decode is an error row
(``error_kind`` ``video_unreadable``) and counts as wrong. ``resume`` skips the clips that already
have a row.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.metrics import RunSummary, summarize
from evals.pipeline import sha256_file
from evals.provenance import (
    Manifest,
    ModelIdentity,
    PipelineInfo,
    Session,
    SuiteInfo,
    git_state,
    machine_info,
    now_iso,
    vidagent_version,
)
from evals.run_dir import ResultRow, RunDir, RunDirError, RunWriter
from evals.run_start import start_or_resume
from evals.samples import Sample, SampleScore
from evals.suites.folder_actions import FolderActionsSuite
from tools.errors import InputError

CARD_COPY = "recognizer.json"


@dataclass(frozen=True)
class RecognizerRunOptions:
    """``checkpoint``: a ``vidagent train recognizer`` output folder. ``limit``: only the first N clips."""

    out_dir: Path
    checkpoint: Path
    limit: int | None = None
    resume: bool = False
    progress: bool = True

    def as_args(self) -> dict[str, Any]:
        return {"out": str(self.out_dir), "checkpoint": str(self.checkpoint), "limit": self.limit,
                "resume": self.resume}


@dataclass(frozen=True)
class RecognizerOutcome:
    """What ``run_recognizer_suite`` did; ``summary`` covers every row of the run."""

    run_dir: RunDir
    n_selected: int
    n_skipped: int
    n_written: int
    repairs: tuple[str, ...]
    summary: RunSummary | None


def run_recognizer_suite(suite: FolderActionsSuite, options: RecognizerRunOptions, *,
                         argv: list[str] | None = None) -> RecognizerOutcome:
    """Classify every selected clip of ``suite`` with the checkpoint into ``options.out_dir``.

    Raises CheckpointError (not a checkpoint), InputError (the data has a label the checkpoint
    does not know), DatasetError (bad data folder), RunDirError (``out_dir`` holds another run)."""
    from tools.recognition.checkpoint import CARD, WEIGHTS, CheckpointError, read_card

    labels = suite.labels()
    checkpoint = Path(options.checkpoint).expanduser()
    card = read_card(checkpoint)
    if not (checkpoint / WEIGHTS).is_file():
        raise CheckpointError(f"{checkpoint}: no {WEIGHTS} (training stopped before its first epoch finished)")
    unknown = [label for label in labels if label not in card.labels]
    if unknown:
        raise InputError(f"labels of {suite.annotations_dir} ({', '.join(labels)}) do not match checkpoint "
                         f"{checkpoint} ({', '.join(card.labels)}): it cannot predict {', '.join(unknown)}")
    samples = suite.load(limit=options.limit)
    weights_sha = sha256_file(checkpoint / WEIGHTS)
    run_dir = RunDir(options.out_dir)
    session = Session(started_at=now_iso(), args={**options.as_args(), "argv": argv}, pid=os.getpid())
    done = start_or_resume(
        run_dir, session, resume=options.resume,
        check_same_run=lambda manifest: _check_same_run(manifest, suite, weights_sha, options),
        new_manifest=lambda: _new_manifest(suite, checkpoint, card, weights_sha, options, len(samples), session),
        pipeline_path=None,
    )
    shutil.copyfile(checkpoint / CARD, run_dir.path / CARD_COPY)
    todo = [s for s in samples if s.sample_id not in done]
    written = 0
    if todo:
        from tools.recognition.recognizer import Recognizer

        recognizer = Recognizer.load(checkpoint)
        with RunWriter(run_dir, record=False) as writer:
            for n, sample in enumerate(todo, start=1):
                row = classify(recognizer, sample)
                writer.write(row, None, None)
                written += 1
                if options.progress:
                    verdict = {True: "right", False: "wrong", None: f"error: {row.error}"}[row.correct]
                    print(f"{suite.name}: {n}/{len(todo)} {row.sample_id}: {row.answer or '-'} ({verdict})",
                          file=sys.stderr, flush=True)
    scores = run_dir.scores()
    return RecognizerOutcome(run_dir, len(samples), len(samples) - len(todo), written, tuple(session.repairs),
                             summarize(scores, suite.qtype_groups) if scores else None)


def classify(recognizer, sample: Sample) -> ResultRow:
    """The results row of one clip: the recogniser's top label, or an error row when the clip
    does not decode."""
    from tools.recognition.data import ClipRecord, DatasetError, read_clip

    start = time.perf_counter()
    card = recognizer.card
    try:
        clip = read_clip(ClipRecord(video=Path(sample.video_path), label=sample.answer_text), card.frames,
                         (card.input_size, card.input_size))
    except DatasetError as exc:
        score = SampleScore.missing_video(sample, str(exc))
        return _row(sample, score, error_kind="video_unreadable", seconds=time.perf_counter() - start)
    probs = recognizer.probabilities(clip[None])[0]
    best = int(probs.argmax())
    label = card.labels[best]
    choice = sample.options.index(label) if label in sample.options else None
    score = SampleScore(suite=sample.suite, sample_id=sample.sample_id, qtype=sample.qtype, status="answered",
                        correct=label == sample.answer_text, prediction=str(choice) if choice is not None else label,
                        reference=sample.answer_text)
    return _row(sample, score, answer=label, choice=choice, confidence=float(probs[best]),
                seconds=time.perf_counter() - start)


def _row(sample: Sample, score: SampleScore, *, answer: str | None = None, choice: int | None = None,
         confidence: float | None = None, error_kind: str | None = None, seconds: float) -> ResultRow:
    return ResultRow(**score.to_row(), answer=answer, choice=choice, confidence=confidence, error_kind=error_kind,
                     video_id=sample.video_id, video_path=sample.video_path, sample_seconds=round(seconds, 3),
                     finished_at=now_iso())


def _new_manifest(suite: FolderActionsSuite, checkpoint: Path, card, weights_sha: str, options: RecognizerRunOptions,
                  n_samples: int, session: Session) -> Manifest:
    from tools.recognition.checkpoint import WEIGHTS

    commit, dirty = git_state()
    cls = type(suite)
    return Manifest(
        vidagent_version=vidagent_version(), git_commit=commit, git_dirty=dirty, started_at=session.started_at,
        suite=SuiteInfo(name=suite.name, class_path=f"{cls.__module__}.{cls.__qualname__}",
                        description=suite.description, annotations_dir=str(suite.annotations_dir),
                        n_samples=n_samples),
        pipeline=PipelineInfo(name=f"recognizer {checkpoint.name}", source_path=str(checkpoint.resolve()),
                              copy_file=CARD_COPY, sha256=weights_sha),
        models=[ModelIdentity(role="recognizer", kind="file", name=f"{card.method} on {card.backbone}",
                              path=str((checkpoint / WEIGHTS).resolve()), sha256=weights_sha)],
        tools=[], mode="run", args=session.args, machine=machine_info(), sessions=[session],
    )


def _check_same_run(manifest: Manifest, suite: FolderActionsSuite, weights_sha: str,
                    options: RecognizerRunOptions) -> None:
    """Resuming must not mix rows of different suites or checkpoints."""
    problems = []
    if manifest.suite.name != suite.name:
        problems.append(f"suite {suite.name!r} (the run has {manifest.suite.name!r})")
    if manifest.pipeline is None or manifest.pipeline.sha256 != weights_sha:
        problems.append(f"checkpoint {options.checkpoint} with weights sha256 {weights_sha[:12]}")
    if problems:
        raise RunDirError(f"cannot resume {options.out_dir}: " + "; ".join(problems))
