"""The report of a tracking run: per-sequence and combined MOTA, IDF1, HOTA, ID switches, FP, FN.

``evals.report`` calls these for runs whose suite kind is ``tracking``, so ``vidagent eval
run`` and ``vidagent eval report`` print and write them like the tables of a QA run. Rates
are percentages of the MOTChallenge kind (MOTA may be negative); "combined" pools every
scored sequence (``evals.mot.combine_evaluations``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from evals.mot import MotEvaluation, MotScores, combine_evaluations
from evals.provenance import Manifest
from evals.run_dir import RunDir
from evals.tracking import SequenceRow
from evals.tracking_runner import read_rows

SCORE_COLUMNS = ["sequence", "frames", "tracked", "GT boxes", "MOTA", "IDF1", "HOTA", "ID switches", "FP", "FN",
                 "DetA", "AssA", "MT", "ML"]


@dataclass(frozen=True)
class TrackingRunData:
    """A tracking run read back: manifest, one row per sequence, and the combined evaluation of
    the scored ones (None when none was scored)."""

    path: Path
    manifest: Manifest
    rows: list[SequenceRow]
    combined: MotEvaluation | None

    @property
    def label(self) -> str:
        tracker = self.manifest.pipeline.name if self.manifest.pipeline else f"files {self.manifest.tracks_dir}"
        return f"{self.path.name} ({tracker})"

    @property
    def scored(self) -> list[SequenceRow]:
        return [r for r in self.rows if r.evaluation is not None]


def load_tracking_run(path: Path, manifest: Manifest) -> TrackingRunData:
    rows = read_rows(RunDir(path))
    if not rows:
        raise ValueError(f"{path} has no results yet")
    scored = [r.evaluation for r in rows if r.evaluation is not None]
    return TrackingRunData(Path(path), manifest, rows, combine_evaluations(scored) if scored else None)


def _score_cells(s: MotScores) -> list[str]:
    from evals.report import pct

    return [str(s.num_objects), pct(s.mota), pct(s.idf1), pct(s.hota), str(s.num_switches),
            str(s.num_false_positives), str(s.num_misses), pct(s.deta), pct(s.assa), str(s.mostly_tracked),
            str(s.mostly_lost)]


def summary_tables(run: TrackingRunData) -> list:
    from evals.report import Table

    rows = []
    for r in run.rows:
        tracked = "-" if r.frames_tracked is None else (
            str(r.frames_tracked) if r.n_frames is None else f"{r.frames_tracked}/{r.n_frames}")
        frames = "-" if r.n_frames is None else str(r.n_frames)
        if r.evaluation is None:
            rows.append([r.sample_id, frames, tracked, *(["-"] * 11)])
        else:
            rows.append([r.sample_id, frames, tracked, *_score_cells(r.evaluation.scores())])
    if run.combined is not None:
        n = len(run.scored)
        frames = sum(r.n_frames or 0 for r in run.scored)
        tracked = sum(r.frames_tracked or 0 for r in run.scored)
        known = all(r.frames_tracked is not None for r in run.scored)
        rows.append([f"combined ({n} sequence{'s' if n != 1 else ''})", str(frames) if frames else "-",
                     f"{tracked}/{frames}" if known and frames else "-", *_score_cells(run.combined.scores())])
    tables = [Table("Tracking", SCORE_COLUMNS, rows)]
    errors = [r for r in run.rows if r.evaluation is None]
    if errors:
        tables.append(Table("Sequences without scores", ["sequence", "cause", "error"],
                            [[r.sample_id, r.error_kind or "error", r.error or ""] for r in errors]))
    return tables


def detail_tables(run: TrackingRunData) -> list:
    from evals.report import Table, num

    m = run.manifest
    tracker = (f"{m.pipeline.name} (sha256 {m.pipeline.sha256[:12]})" if m.pipeline
               else f"results files in {m.tracks_dir}")
    tables = [Table("Run", ["", ""], [
        ["suite", f"{m.suite.name} ({m.suite.annotations_dir})"],
        ["tracker", tracker],
        ["tools", ", ".join(f"{t.name}/{t.backend} v{t.version}" for t in m.tools) or "-"],
        ["mode", m.mode],
        ["vidagent", f"{m.vidagent_version} (git {m.git_commit[:12] if m.git_commit else 'unknown'}"
                     f"{', uncommitted changes' if m.git_dirty else ''})"],
        ["started", m.started_at + (f" ({len(m.sessions)} sessions)" if len(m.sessions) > 1 else "")],
        ["machine", f"{m.machine.hostname}: {m.machine.platform}, {m.machine.cpu_count} CPUs"],
    ])]
    causes = Counter(r.error_kind or "error" for r in run.rows if r.evaluation is None)
    if causes:
        tables.append(Table("Sequences without scores, by cause", ["cause", "sequences"],
                            [[k, str(n)] for k, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))]))
    tables.append(Table("Tracker per sequence", ["sequence", "backend", "fps asked", "tracks", "boxes", "seconds",
                                                 "frames decoded", "tracker said"],
                        [[r.sample_id, r.backend or "-", num(r.fps), num(r.n_tracks), num(r.n_boxes),
                          num(r.seconds, 1), num(r.frames_decoded), r.observation or "-"] for r in run.rows]))
    return tables
