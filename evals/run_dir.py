"""The files of one evaluation run, and how they are written so a killed run loses nothing.

A run directory holds:

``manifest.json``
    What was run, where and when (``evals.provenance.Manifest``), rewritten atomically.
``pipeline.toml``
    A byte-for-byte copy of the pipeline file (its sha256 is in the manifest).
``results.jsonl``
    One row per sample (``ResultRow``), in completion order. Append-only; each row is
    written with one ``write`` and ``fsync``-ed before the next sample is recorded, and
    its presence is what marks a sample as done.
``traces.jsonl``
    One line per sample: ``{"suite", "sample_id", "answer", "trace"}`` (the Answer without
    its trace, and the full Trace). Written *before* the sample's results row.
``recording.jsonl``
    With ``--record``: one ``evals.record.SampleRecording`` per sample, also written before
    the results row.

After a crash (even SIGKILL in the middle of a write) ``prepare_resume`` truncates a partial
last line of ``results.jsonl`` and drops the trace and recording lines of samples that have
no results row, so a resumed run re-runs exactly the unfinished samples and never writes a
row twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from evals.samples import Grounding, SampleCost, SampleScore, ScoreStatus
from tools.errors import InputError
from tools.types import TimeSpan

MANIFEST = "manifest.json"
PIPELINE_COPY = "pipeline.toml"
RESULTS = "results.jsonl"
TRACES = "traces.jsonl"
RECORDING = "recording.jsonl"


class RunDirError(InputError):
    """A run directory is missing, damaged beyond its last line, or used inconsistently."""


# -- one results row ---------------------------------------------------------------------


class ResultRow(BaseModel):
    """One line of ``results.jsonl``.

    The first fields are exactly ``SampleScore.to_row()`` (so ``score_from_row`` rebuilds the
    score); then the answer as given, why a sample produced no answer, and the trace totals.

    ``error_kind``: None when the agent ran and returned an Answer (its ``status`` may still
    be ``error``, e.g. a planner that could not be reached: then ``error_kind`` is
    ``agent_error``), ``missing_video`` (no file for the sample), ``video_unreadable`` (the
    file did not open), ``timeout`` (the sample ran past ``--timeout-s``; its worker was
    replaced), ``worker_died`` (the worker process exited mid-sample), ``worker_error`` (an
    exception outside the agent loop), ``not_recorded`` (replay of a sample the recorded run
    has no recording for).
    ``sample_seconds``: wall time the worker spent on the sample, seconds (video hashing
    included; worker start-up excluded). ``worker_pid``: the process that answered it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # SampleScore.to_row()
    suite: str
    sample_id: str
    qtype: str = ""
    status: ScoreStatus
    correct: bool | None
    prediction: str | None = None
    reference: str = ""
    error: str | None = None
    squared_error: float | None = None
    iou: float | None = None
    iop: float | None = None
    pred_start_s: float | None = None
    pred_end_s: float | None = None
    steps: int | None = None
    tool_calls: int | None = None
    invalid_tool_calls: int | None = None
    frames_decoded: int | None = None
    frames_through_models: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    wall_seconds: float | None = None
    cache_hits: int | None = None
    # the answer and how the sample went
    answer: str | None = None
    choice: int | None = None
    confidence: float | None = None
    error_kind: str | None = None
    video_id: str = ""
    video_path: str | None = None
    run_id: str | None = None
    budget_hit: str | None = None
    totals: dict[str, Any] | None = None
    sample_seconds: float | None = None
    worker_pid: int | None = None
    finished_at: str = ""


def score_from_row(row: ResultRow | dict[str, Any]) -> SampleScore:
    """The SampleScore a results row was written from (the inverse of ``SampleScore.to_row``)."""
    r = row if isinstance(row, ResultRow) else ResultRow.model_validate(row)
    grounding = None
    if r.iou is not None and r.iop is not None:
        span = TimeSpan(start_s=r.pred_start_s, end_s=r.pred_end_s) if r.pred_start_s is not None else None
        grounding = Grounding(iou=r.iou, iop=r.iop, pred_span=span)
    cost_values = {f: getattr(r, f) for f in SampleCost.model_fields}
    cost = SampleCost(**cost_values) if any(v is not None for v in cost_values.values()) else None
    return SampleScore(
        suite=r.suite, sample_id=r.sample_id, qtype=r.qtype, status=r.status, correct=r.correct,
        prediction=r.prediction, reference=r.reference, error=r.error, grounding=grounding,
        squared_error=r.squared_error, cost=cost,
    )


# -- JSON lines: durable appends and crash repair ------------------------------------------


class JsonlAppender:
    """Appends JSON objects as lines; each line is one ``write`` followed by ``fsync``."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, obj: Any) -> None:
        data = (json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True)
class JsonlScan:
    """The complete lines of a JSON-lines file and where the damaged tail (if any) starts.

    ``good_bytes``: length of the prefix made of complete, parseable lines.
    ``dropped_bytes``: bytes after it (a partial or unparseable last line).
    """

    rows: list[dict[str, Any]]
    good_bytes: int
    dropped_bytes: int


def scan_jsonl(path: Path) -> JsonlScan:
    """Read ``path``; tolerate a damaged *last* line only (what a killed writer leaves).

    Raises RunDirError when a bad line is followed by good ones: that is not a crash
    artefact, and guessing which rows to keep would make results irreproducible.
    """
    if not path.exists():
        return JsonlScan([], 0, 0)
    data = path.read_bytes()
    rows: list[dict[str, Any]] = []
    offset = 0
    while offset < len(data):
        end = data.find(b"\n", offset)
        if end < 0:  # no newline: a partial last line
            break
        try:
            obj = json.loads(data[offset:end])
        except (json.JSONDecodeError, UnicodeDecodeError):
            obj = None
        if not isinstance(obj, dict):
            if _has_parseable_line(data[end + 1:]):
                raise RunDirError(f"{path}: line {len(rows) + 1} is damaged and is followed by more rows; "
                                  "this is not what an interrupted run leaves: inspect the file")
            break
        rows.append(obj)
        offset = end + 1
    return JsonlScan(rows, offset, len(data) - offset)


def _has_parseable_line(rest: bytes) -> bool:
    for line in rest.split(b"\n"):
        try:
            if isinstance(json.loads(line), dict):
                return True
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
    return False


def _rewrite_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ResumeState:
    """What ``prepare_resume`` found: the samples already done and what it repaired."""

    done: frozenset[str]
    repairs: tuple[str, ...]


# -- the directory -------------------------------------------------------------------------


class RunDir:
    """Paths and readers of one run directory (see the module docstring for the layout)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def results_path(self) -> Path:
        return self.path / RESULTS

    @property
    def traces_path(self) -> Path:
        return self.path / TRACES

    @property
    def recording_path(self) -> Path:
        return self.path / RECORDING

    @property
    def pipeline_copy_path(self) -> Path:
        return self.path / PIPELINE_COPY

    def is_started(self) -> bool:
        return self.manifest_path.is_file()

    def require_started(self) -> None:
        if not self.is_started():
            raise RunDirError(f"{self.path} is not a run directory (no {MANIFEST})")

    def has_content(self) -> bool:
        return self.path.is_dir() and any(self.path.iterdir())

    # -- manifest (JSON object; evals.provenance gives it a type) --

    def read_manifest(self) -> dict[str, Any]:
        self.require_started()
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest_path.with_name(MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.manifest_path)

    # -- readers (never modify files; a damaged last line is skipped) --

    def rows(self) -> list[ResultRow]:
        return [ResultRow.model_validate(r) for r in scan_jsonl(self.results_path).rows]

    def scores(self) -> list[SampleScore]:
        return [score_from_row(r) for r in self.rows()]

    def traces(self) -> Iterator[dict[str, Any]]:
        yield from scan_jsonl(self.traces_path).rows

    def recording_lines(self) -> list[dict[str, Any]]:
        return scan_jsonl(self.recording_path).rows

    # -- resume --

    def prepare_resume(self) -> ResumeState:
        """Make the files consistent after an interrupted run; return the samples done.

        A partial last line of ``results.jsonl`` is truncated; trace and recording lines of
        samples without a results row (or repeated ones) are dropped.
        """
        repairs: list[str] = []
        scan = scan_jsonl(self.results_path)
        if scan.dropped_bytes:
            with self.results_path.open("r+b") as fh:
                fh.truncate(scan.good_bytes)
                os.fsync(fh.fileno())
            repairs.append(f"{RESULTS}: dropped a partial last line ({scan.dropped_bytes} bytes)")
        done: set[str] = set()
        for row in scan.rows:
            sid = row.get("sample_id")
            if sid in done:
                raise RunDirError(f"{self.results_path}: sample {sid!r} has two rows")
            done.add(sid)
        for path in (self.traces_path, self.recording_path):
            if not path.exists():
                continue
            side = scan_jsonl(path)
            kept, seen = [], set()
            for line in side.rows:
                sid = line.get("sample_id")
                if sid in done and sid not in seen:
                    seen.add(sid)
                    kept.append(line)
            dropped = len(side.rows) - len(kept)
            if dropped or side.dropped_bytes:
                _rewrite_jsonl(path, kept)
                partial = f" and a partial last line ({side.dropped_bytes} bytes)" if side.dropped_bytes else ""
                repairs.append(f"{path.name}: dropped {dropped} line(s) of unfinished samples{partial}")
        return ResumeState(frozenset(done), tuple(repairs))


class RunWriter:
    """Appends finished samples to a run directory: trace, then recording, then the row."""

    def __init__(self, run_dir: RunDir, *, record: bool):
        run_dir.path.mkdir(parents=True, exist_ok=True)
        self._results = JsonlAppender(run_dir.results_path)
        self._traces = JsonlAppender(run_dir.traces_path)
        self._recording = JsonlAppender(run_dir.recording_path) if record else None
        _fsync_dir(run_dir.path)  # the new files' directory entries survive a crash too

    def write(self, row: ResultRow, trace_line: dict[str, Any] | None, recording_line: dict[str, Any] | None) -> None:
        if trace_line is not None:
            self._traces.append(trace_line)
        if recording_line is not None and self._recording is not None:
            self._recording.append(recording_line)
        self._results.append(row.model_dump(mode="json"))

    def close(self) -> None:
        for appender in (self._results, self._traces, self._recording):
            if appender is not None:
                appender.close()

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
