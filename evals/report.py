"""Reports of a run directory, and the paired comparison of two runs.

``write_report(load_run(path))`` writes ``report.md`` (tables; plots as PNG files under
``plots/``) and ``report.html`` (the same tables, plots embedded as base64 PNG, no external
files). ``summary_text`` is what ``vidagent eval report`` and ``eval run`` print. A tracking
run (suite kind ``tracking``) gets its tables from ``evals.tracking_report``.

Rates are fractions of all samples of the run; an unparsed, budget-exhausted or failed
answer is wrong in ``accuracy`` and left out of ``accuracy (answered)`` (``evals.metrics``).
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evals.metrics import COST_FIELDS, AccuracySummary, PairedComparison, RunSummary, compare_runs, summarize
from evals.provenance import Manifest
from evals.run_dir import ResultRow, RunDir
from evals.samples import SampleScore

if TYPE_CHECKING:
    from evals.tracking_report import TrackingRunData

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
PLOTS_DIR = "plots"


# -- loading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolUsage:
    """Calls of one tool over a run; ``mean_seconds`` per call, seconds."""

    name: str
    calls: int
    ok: int
    retry: int
    error: int
    cache_hits: int
    mean_seconds: float


#: A multiple-choice answer at or below this confidence counts as a low-confidence choice.
LOW_CONFIDENCE = 0.5


@dataclass(frozen=True)
class ChoicePositions:
    """A run's multiple-choice questions by option position (0-based), to expose position bias.

    Per position p: ``gold[p]`` questions whose reference option sits at p, ``chosen[p]``
    answers that chose p, ``correct[p]`` questions with gold p answered correctly.
    ``no_choice``: questions without a chosen option (unanswered, or no option named);
    ``low_confidence``: chosen with confidence at most ``LOW_CONFIDENCE``. Counts only the
    questions the agent ran on, whose trace holds the options.
    """

    n: int
    gold: tuple[int, ...]
    chosen: tuple[int, ...]
    correct: tuple[int, ...]
    no_choice: int
    low_confidence: int

    def chosen_over_gold(self, p: int) -> float | None:
        """How many times more often position p was chosen than it is the answer (None: never gold)."""
        return self.chosen[p] / self.gold[p] if self.gold[p] else None


@dataclass(frozen=True)
class RunData:
    """A run directory read back: manifest, rows (in ``results.jsonl`` order), scores, summary."""

    path: Path
    manifest: Manifest
    rows: list[ResultRow]
    scores: list[SampleScore]
    summary: RunSummary
    tool_usage: list[ToolUsage] = field(default_factory=list)
    positions: ChoicePositions | None = None

    @property
    def label(self) -> str:
        return f"{self.path.name} ({self.manifest.pipeline.name})"

    def qtype_label(self, code: str) -> str:
        name = self.manifest.suite.qtype_names.get(code)
        return f"{code} ({name})" if name else code


def load_run(path: str | Path) -> "RunData | TrackingRunData":
    """A run directory read back: ``RunData`` for a question-answering run, ``TrackingRunData``
    (``evals.tracking_report``) for a tracking run."""
    run_dir = RunDir(path)
    manifest = Manifest.model_validate(run_dir.read_manifest())
    if manifest.suite.kind == "tracking":
        from evals.tracking_report import load_tracking_run

        return load_tracking_run(run_dir.path, manifest)
    rows = run_dir.rows()
    if not rows:
        raise ValueError(f"{run_dir.path} has no results yet")
    scores = run_dir.scores()
    summary = summarize(scores, manifest.suite.qtype_groups)
    return RunData(run_dir.path, manifest, rows, scores, summary, _tool_usage(run_dir), _positions(run_dir, rows))


def _positions(run_dir: RunDir, rows: list[ResultRow]) -> ChoicePositions | None:
    options = {(t["suite"], t["sample_id"]): t["trace"].get("options") for t in run_dir.traces() if "trace" in t}
    asked = [(r, options.get((r.suite, r.sample_id))) for r in rows]
    asked = [(r, opts) for r, opts in asked if opts and r.reference in opts]
    if not asked:
        return None
    width = max(len(opts) for _, opts in asked)
    gold, chosen, correct = [0] * width, [0] * width, [0] * width
    no_choice = low = 0
    for row, opts in asked:
        g = opts.index(row.reference)
        gold[g] += 1
        correct[g] += row.correct is True
        pick = _chosen(row, len(opts))
        if pick is None:
            no_choice += 1
            continue
        chosen[pick] += 1
        low += row.confidence is not None and row.confidence <= LOW_CONFIDENCE
    return ChoicePositions(len(asked), tuple(gold), tuple(chosen), tuple(correct), no_choice, low)


def _chosen(row: ResultRow, n_options: int) -> int | None:
    """The option a row chose: the judged prediction (which also reads an option named only in
    the answer text), else the answer's ``choice``."""
    if row.status != "answered":
        return None
    for value in (row.prediction, row.choice):
        if value is not None and str(value).isdigit() and int(value) < n_options:
            return int(value)
    return None


def _tool_usage(run_dir: RunDir) -> list[ToolUsage]:
    counts: dict[str, Counter] = defaultdict(Counter)
    seconds: dict[str, float] = defaultdict(float)
    for line in run_dir.traces():
        for step in line["trace"]["steps"]:
            for call in step["tool_calls"]:
                c = counts[call["name"]]
                c["calls"] += 1
                c[call["status"]] += 1
                c["cache_hits"] += int(call["cache_hit"])
                seconds[call["name"]] += call["seconds"]
    return [
        ToolUsage(name, c["calls"], c["ok"], c["retry"], c["error"], c["cache_hits"], seconds[name] / c["calls"])
        for name, c in sorted(counts.items(), key=lambda kv: (-kv[1]["calls"], kv[0]))
    ]


# -- tables --------------------------------------------------------------------------------


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        return (f"<h3>{html.escape(self.title)}</h3>\n"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def num(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "-"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.{digits}f}"


def _accuracy_row(label: str, s: AccuracySummary) -> list[str]:
    return [label, str(s.n), pct(s.accuracy), pct(s.accuracy_answered), str(s.n_correct), str(s.n_answered),
            str(s.n_unparsed), str(s.n_budget_exhausted), str(s.n_error)]


ACCURACY_COLUMNS = ["", "n", "accuracy", "accuracy (answered)", "correct", "answered", "unparsed",
                    "budget exhausted", "error"]


def summary_tables(run: RunData) -> list[Table]:
    """Overall, per question type and per group: the tables ``summary_text`` prints."""
    s = run.summary
    tables = [Table("Summary", ACCURACY_COLUMNS, [_accuracy_row("all", s.overall)])]
    if s.by_qtype:
        tables.append(Table("By question type", ACCURACY_COLUMNS,
                            [_accuracy_row(run.qtype_label(k), v) for k, v in s.by_qtype.items()]))
    if s.by_group:
        tables.append(Table("By group", ACCURACY_COLUMNS,
                            [_accuracy_row(run.qtype_label(k), v) for k, v in s.by_group.items()]))
    if run.positions is not None:
        tables.append(positions_table(run.positions))
    return tables


def positions_table(pos: ChoicePositions) -> Table:
    """Gold and chosen counts per option position, with accuracy at each gold position."""
    rows = []
    for p in range(len(pos.gold)):
        ratio = pos.chosen_over_gold(p)
        rows.append([str(p), str(pos.gold[p]), str(pos.chosen[p]), "-" if ratio is None else f"{ratio:.2f}",
                     str(pos.correct[p]), pct(pos.correct[p] / pos.gold[p] if pos.gold[p] else None)])
    rows.append(["no choice", "", str(pos.no_choice), "", "", ""])
    title = (f"Multiple choice by option position ({pos.n} questions; {pos.low_confidence} choices at confidence "
             f"<= {LOW_CONFIDENCE:g})")
    return Table(title, ["position", "gold", "chosen", "chosen / gold", "correct", "accuracy at gold position"], rows)


def detail_tables(run: RunData) -> list[Table]:
    m, s = run.manifest, run.summary
    tables = [Table("Run", ["", ""], [
        ["suite", m.suite.name], ["pipeline", f"{m.pipeline.name} (sha256 {m.pipeline.sha256[:12]})"],
        ["models", "; ".join(f"{x.role}: {x.name}" + (f" sha256 {x.sha256[:12]}" if x.sha256 else "")
                             for x in m.models)],
        ["tools", ", ".join(f"{t.name}/{t.backend} v{t.version}" for t in m.tools)],
        ["mode", m.mode + (f" of {m.replay_of}" if m.replay_of else "")],
        ["vidagent", f"{m.vidagent_version} (git {m.git_commit[:12] if m.git_commit else 'unknown'}"
                     f"{', uncommitted changes' if m.git_dirty else ''})"],
        ["started", m.started_at + (f" ({len(m.sessions)} sessions)" if len(m.sessions) > 1 else "")],
        ["machine", f"{m.machine.hostname}: {m.machine.platform}, {m.machine.cpu_count} CPUs"],
    ])]
    causes = Counter(r.error_kind or r.status for r in run.rows if r.status != "answered")
    if causes:
        tables.append(Table("Samples without a scored answer, by cause", ["cause", "samples"],
                            [[k, str(n)] for k, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))]))
    c = s.cost
    tables.append(Table(f"Cost per question ({c.n} questions the agent ran on)", ["", "mean", "median", "total"],
                        [[f, num(c.mean[f]), num(c.median[f]), num(c.total[f])] for f in COST_FIELDS]))
    if run.tool_usage:
        tables.append(Table("Tool usage", ["tool", "calls", "ok", "retry", "error", "cache hits", "mean s"],
                            [[u.name, str(u.calls), str(u.ok), str(u.retry), str(u.error), str(u.cache_hits),
                              num(u.mean_seconds, 3)] for u in run.tool_usage]))
    if s.grounding is not None:
        g = s.grounding
        tables.append(Table("Grounding", ["n", "with span", "mIoU", "mIoP", "IoU@0.3", "IoU@0.5", "IoP@0.3",
                                          "IoP@0.5", "Acc@GQA"],
                            [[str(g.n), str(g.n_with_span), pct(g.miou), pct(g.miop), pct(g.iou_at_0_3),
                              pct(g.iou_at_0_5), pct(g.iop_at_0_3), pct(g.iop_at_0_5), pct(g.acc_at_gqa)]]))
    if s.count is not None:
        tables.append(Table("Count questions", ["n", "MSE"], [[str(s.count.n), num(s.count.mse, 3)]]))
    return tables


def summary_text(run: "RunData | TrackingRunData") -> str:
    return "\n".join(t.markdown() for t in _tables(run, detail=False))


def _tables(run: "RunData | TrackingRunData", *, detail: bool) -> list[Table]:
    if isinstance(run, RunData):
        return summary_tables(run) + (detail_tables(run) if detail else [])
    from evals import tracking_report

    return tracking_report.summary_tables(run) + (tracking_report.detail_tables(run) if detail else [])


# -- plots -----------------------------------------------------------------------------------


def plots(run: RunData) -> dict[str, bytes]:
    """PNG images by file name: accuracy per question type, chosen against gold option positions,
    latency and steps distributions, tool usage (only those with data)."""
    from tools.errors import require

    matplotlib = require("matplotlib", "eval")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    images: dict[str, bytes] = {}

    def save(name: str, fig) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        images[name] = buf.getvalue()

    by_qtype = run.summary.by_qtype or {"all": run.summary.overall}
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(by_qtype) + 2), 3))
    labels = list(by_qtype)
    bars = ax.bar(labels, [100 * v.accuracy for v in by_qtype.values()], color="#4c72b0")
    for bar, v in zip(bars, by_qtype.values()):
        ax.annotate(f"n={v.n}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy per question type")
    save("accuracy_by_qtype.png", fig)

    if run.positions is not None:
        pos = run.positions
        fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(pos.gold) + 2), 3))
        xs = list(range(len(pos.gold)))
        ax.bar([x - 0.2 for x in xs], pos.gold, width=0.4, color="#8c8c8c", label="gold")
        ax.bar([x + 0.2 for x in xs], pos.chosen, width=0.4, color="#4c72b0", label="chosen")
        ax.set_xticks(xs)
        ax.set_xlabel("option position (0-based)")
        ax.set_ylabel("questions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
        ax.set_title(f"Chosen vs gold option positions ({pos.no_choice} without a choice)")
        save("choice_positions.png", fig)

    costs = [s.cost for s in run.scores if s.cost is not None]
    if costs:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.hist([c.wall_seconds for c in costs], bins=min(30, max(5, len(costs) // 2)), color="#55a868")
        ax.set_xlabel("seconds per question")
        ax.set_ylabel("questions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("Latency")
        save("latency.png", fig)

        steps = Counter(c.steps for c in costs)
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.bar([str(k) for k in sorted(steps)], [steps[k] for k in sorted(steps)], color="#c44e52")
        ax.set_xlabel("planner steps")
        ax.set_ylabel("questions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("Steps per question")
        save("steps.png", fig)

    if run.tool_usage:
        fig, ax = plt.subplots(figsize=(5, max(2, 0.4 * len(run.tool_usage) + 1)))
        names = [u.name for u in run.tool_usage][::-1]
        left = [0] * len(names)
        for status, color in (("ok", "#55a868"), ("retry", "#dd8452"), ("error", "#c44e52")):
            values = [getattr(u, status) for u in run.tool_usage][::-1]
            ax.barh(names, values, left=left, color=color, label=status)
            left = [a + b for a, b in zip(left, values)]
        ax.set_xlabel("calls")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
        ax.set_title("Tool usage")
        save("tool_usage.png", fig)
    return images


# -- the report files ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    plots: tuple[Path, ...]


def write_report(run: "RunData | TrackingRunData") -> ReportFiles:
    tables = _tables(run, detail=True)
    images = plots(run) if isinstance(run, RunData) else {}
    plot_dir = run.path / PLOTS_DIR
    if images:
        plot_dir.mkdir(exist_ok=True)
    plot_paths = []
    for name, png in images.items():
        (plot_dir / name).write_bytes(png)
        plot_paths.append(plot_dir / name)
    tracker = run.manifest.pipeline.name if run.manifest.pipeline else "results files"
    title = f"{run.manifest.suite.name} / {tracker}: {run.path.name}"

    md = [f"# {title}", ""] + [t.markdown() for t in tables]
    if images:
        md += ["### Plots", ""] + [f"![{name}]({PLOTS_DIR}/{name})" for name in images]
    md_path = run.path / REPORT_MD
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")

    figures = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        "</figure>\n"
        for name, png in images.items()
    )
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n" + "".join(t.html() for t in tables)
        + (f"<h3>Plots</h3>\n{figures}" if images else "") + "</body></html>\n"
    )
    html_path = run.path / REPORT_HTML
    html_path.write_text(page, encoding="utf-8")
    return ReportFiles(md_path, html_path, tuple(plot_paths))


_CSS = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}td:first-child,th:first-child{text-align:left}"
    "figure{display:inline-block;margin:.5em}"
)


# -- comparison ------------------------------------------------------------------------------


def compare(a: RunData, b: RunData, *, n_resamples: int = 10_000, seed: int = 0) -> PairedComparison:
    for run in (a, b):
        if not isinstance(run, RunData):
            raise ValueError(f"{run.path} is a tracking run; the paired comparison pairs answers to questions "
                             "(compare tracking runs by their reports)")
    return compare_runs(a.scores, b.scores, n_resamples=n_resamples, seed=seed)


def comparison_text(a: RunData, b: RunData, cmp: PairedComparison) -> str:
    """The paired comparison of B against A as markdown tables (what ``eval compare`` prints)."""
    rows_a = {f"{r.suite}/{r.sample_id}": r for r in a.rows}
    rows_b = {f"{r.suite}/{r.sample_id}": r for r in b.rows}
    sa = summarize([s for s in a.scores if f"{s.suite}/{s.sample_id}" not in cmp.only_in_a]).overall
    sb = summarize([s for s in b.scores if f"{s.suite}/{s.sample_id}" not in cmp.only_in_b]).overall
    level = f"{100 * cmp.ci_level:.0f}%"
    head = Table(f"B against A on {cmp.n_paired} paired questions", ["", "A", "B", "B - A"], [
        ["run", a.label, b.label, ""],
        ["accuracy", pct(cmp.accuracy_a), pct(cmp.accuracy_b), f"{100 * cmp.difference:+.1f} pts"],
        ["accuracy (answered)", pct(sa.accuracy_answered), pct(sb.accuracy_answered), ""],
        ["unparsed", pct(sa.unparsed_rate), pct(sb.unparsed_rate), ""],
        ["budget exhausted", pct(sa.budget_exhausted_rate), pct(sb.budget_exhausted_rate), ""],
        ["error", pct(sa.error_rate), pct(sb.error_rate), ""],
    ])
    stats = Table("Significance", ["", ""], [
        [f"difference, {level} CI (paired bootstrap, {cmp.n_resamples} resamples, seed {cmp.seed})",
         f"{100 * cmp.difference:+.1f} pts [{100 * cmp.ci_low:+.1f}, {100 * cmp.ci_high:+.1f}]"],
        ["McNemar exact p", f"{cmp.mcnemar_p:.4g}"],
        ["gained (wrong in A, correct in B)", str(len(cmp.gained))],
        ["lost (correct in A, wrong in B)", str(len(cmp.lost))],
        ["only in A / only in B", f"{len(cmp.only_in_a)} / {len(cmp.only_in_b)}"],
    ])

    def flip_row(key: str, direction: str) -> list[str]:
        ra, rb = rows_a[key], rows_b[key]
        return [ra.sample_id, ra.qtype, ra.reference, _shown_prediction(ra), _shown_prediction(rb), direction]

    flips = Table("Flipped questions", ["sample", "type", "reference", "A", "B", "change"],
                  [flip_row(k, "gained") for k in cmp.gained] + [flip_row(k, "lost") for k in cmp.lost])
    costs = Table("Cost per question, paired means", ["", "B - A"],
                  [[f, num(cmp.cost_difference[f], 3)] for f in COST_FIELDS])
    return "\n".join(t.markdown() for t in (head, stats, flips, costs))


def _shown_prediction(row: ResultRow) -> str:
    if row.status != "answered":
        return row.status
    return row.prediction if row.prediction is not None else (row.answer or "")
