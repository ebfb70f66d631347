"""Evaluation run directories under the allowed eval roots: listed, summarised, reported.

A report is ``vidagent eval report``'s ``report.html`` (tables, plots embedded as PNG, no
external files); it is (re)written in the run directory when missing or older than the run's
results, exactly as that command would.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from server.paths import PathNotFound, child_dir
from tools.errors import InputError

MAX_LISTED = 100


class EvalRunSummary(BaseModel):
    """One evaluation run: ``accuracy`` and ``accuracy_answered`` are fractions in [0, 1];
    ``mean_seconds`` per question."""

    model_config = ConfigDict(frozen=True)

    name: str
    suite: str
    pipeline: str
    started_at: str
    n: int
    n_answered: int
    accuracy: float
    accuracy_answered: float | None
    mean_seconds: float | None


def list_runs(roots: tuple[Path, ...]) -> list[EvalRunSummary]:
    """Runs directly under ``roots`` (directories with a manifest and results), newest first;
    directories that are not readable runs are skipped."""
    from evals.run_dir import RunDir

    found: list[Path] = []
    for root in roots:
        found += [p for p in root.iterdir() if p.is_dir() and RunDir(p).is_started()]
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    out = []
    for path in found[:MAX_LISTED]:
        try:
            out.append(summary(path.name, roots))
        except (ValueError, OSError, InputError):  # a run without results yet, or a damaged one
            continue
    return out


def run_path(name: str, roots: tuple[Path, ...]) -> Path:
    """The directory of evaluation run ``name`` (PathNotFound unless it holds a started run)."""
    from evals.run_dir import RunDir

    path = child_dir(name, roots)
    if not RunDir(path).is_started():
        raise PathNotFound(f"no evaluation run named {name}")
    return path


def summary(name: str, roots: tuple[Path, ...]) -> EvalRunSummary:
    """The summary of run ``name`` (ValueError when it has no results yet, or is a tracking run)."""
    from evals.report import load_run

    run = load_run(run_path(name, roots))
    if run.manifest.suite.kind != "qa":  # tracking runs have MOTA/IDF1/HOTA, not accuracy (see their report)
        raise ValueError(f"{name} is a {run.manifest.suite.kind} run, which has no accuracy summary")
    overall = run.summary.overall
    return EvalRunSummary(
        name=name, suite=run.manifest.suite.name, pipeline=run.manifest.pipeline.name,
        started_at=run.manifest.started_at, n=overall.n, n_answered=overall.n_answered,
        accuracy=overall.accuracy, accuracy_answered=overall.accuracy_answered,
        mean_seconds=run.summary.cost.mean.get("wall_seconds") if run.summary.cost.n else None,
    )


def report_html(name: str, roots: tuple[Path, ...]) -> str:
    """The run's ``report.html``, written first when missing or stale."""
    from evals.report import REPORT_HTML, load_run, write_report
    from evals.run_dir import RunDir

    path = run_path(name, roots)
    html = path / REPORT_HTML
    results = RunDir(path).results_path
    if not html.is_file() or (results.is_file() and results.stat().st_mtime > html.stat().st_mtime):
        write_report(load_run(path))
    return html.read_text(encoding="utf-8")
