"""``vidagent eval``: run a pipeline on a suite, report a run, compare two runs, list suites.

Loaded by ``agent.cli`` from the ``vidagent.commands`` entry point. Tables go to stdout,
progress and notes to stderr. Errors follow ``agent.cli``'s exit codes (2: bad input).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from tools.errors import InputError


@click.group("eval")
def eval_group() -> None:
    """Evaluate pipelines on benchmark suites, reproducibly."""


@eval_group.command("run")
@click.option("--suite", "suite_name", default=None, help="a registered suite (see `vidagent eval suites`)")
@click.option("--pipeline", "pipeline_path", type=click.Path(path_type=Path), default=None,
              help="pipeline TOML (planner, tools, budgets, cache)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True, help="run directory, e.g. runs/NAME")
@click.option("--data", "--annotations", "annotations_dir", type=click.Path(path_type=Path), default=None,
              help="the suite's data folder (its annotation files); default: <root>/<suite> with root "
                   "$VIDAGENT_DATA_DIR, else the pipeline's [data] dir, else <user data dir>/benchmarks")
@click.option("--videos", "videos_dir", type=click.Path(path_type=Path), default=None,
              help="folder of the suite's videos (default: <data folder>/videos)")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="only the first N samples")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="samples answered at once")
@click.option("--resume", is_flag=True, help="continue the run in --out, skipping samples already done")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local processes, or Ray actors ($RAY_ADDRESS or a local Ray cluster)")
@click.option("--record", is_flag=True, help="store every planner reply and tool result, for --replay")
@click.option("--replay", "replay_dir", type=click.Path(path_type=Path), default=None,
              help="re-run a recorded run without models (suite, pipeline, videos and limit default to its own)")
@click.option("--timeout-s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="per-sample wall-time limit in seconds; a sample over it becomes an error row")
@click.option("--tracks", "tracks_dir", type=click.Path(path_type=Path), default=None,
              help="tracking suites: score the results files <DIR>/<sequence>.txt instead of running a pipeline")
@click.option("--phrase", "phrases", multiple=True,
              help="tracking suites: what to track (repeat for several; default: person)")
@click.option("--checkpoint", "checkpoint", type=click.Path(path_type=Path), default=None,
              help="folder-actions: score this recogniser checkpoint (vidagent train recognizer) instead of a pipeline")
@click.option("--split-list", "split_list", type=click.Path(path_type=Path), default=None,
              help="folder-actions: only the clips this file lists, one <label>/<clip file> per line "
                   "(UCF101's testlist01.txt)")
@click.option("--no-progress", is_flag=True, help="no progress display on stderr")
def run_command(suite_name, pipeline_path, out_dir, videos_dir, annotations_dir, limit, workers, resume, executor,
                record, replay_dir, timeout_s, tracks_dir, phrases, checkpoint, split_list, no_progress) -> None:
    """Answer every sample of a suite with a pipeline (a tracking suite: track every sequence
    with the pipeline's track_objects; folder-actions: or classify every clip with --checkpoint);
    write the run directory --out."""
    import sys

    from evals.pipeline import Pipeline
    from evals.run_dir import RunDir
    from evals.runner import RunOptions, run_suite

    suite_kwargs = {}
    if checkpoint is not None or split_list is not None:
        if suite_name is None or _suite_class(suite_name).name != "folder_actions":
            raise InputError("--checkpoint and --split-list are for --suite folder-actions")
        suite_kwargs = {"split_list": split_list}
    if checkpoint is not None:
        _run_recognizer(suite_name, checkpoint, out_dir, annotations_dir, limit, resume, suite_kwargs,
                        progress=not no_progress,
                        unused={"--pipeline": pipeline_path, "--videos": videos_dir, "--record": record,
                                "--replay": replay_dir, "--timeout-s": timeout_s, "--workers": workers != 1,
                                "--executor": executor != "local"})
        return
    if suite_name is not None and _suite_class(suite_name).kind == "tracking":
        _run_tracking(suite_name, pipeline_path, out_dir, annotations_dir, limit, resume, timeout_s, tracks_dir,
                      phrases, progress=not no_progress,
                      unused={"--videos": videos_dir, "--record": record, "--replay": replay_dir,
                              "--workers": workers != 1, "--executor": executor != "local"})
        return
    if tracks_dir is not None or phrases:
        raise InputError("--tracks and --phrase are for tracking suites (e.g. --suite mot)")
    if record and replay_dir is not None:
        raise InputError("--record and --replay exclude each other")
    if replay_dir is not None:
        recorded = RunDir(replay_dir).read_manifest()
        suite_name = suite_name or recorded["suite"]["name"]
        annotations_dir = annotations_dir or recorded["suite"]["annotations_dir"] or None
        pipeline_path = pipeline_path or RunDir(replay_dir).pipeline_copy_path
        videos_dir = videos_dir or recorded["args"].get("videos")
        limit = limit if limit is not None else recorded["args"].get("limit")
    if suite_name is None or pipeline_path is None:
        raise InputError("pass --suite NAME and --pipeline FILE (or --replay RUN)")
    pipeline = Pipeline.load(pipeline_path)
    suite = _suite(suite_name, annotations_dir, pipeline.config.data.dir, **suite_kwargs)
    options = RunOptions(
        out_dir=out_dir, videos_dir=Path(videos_dir) if videos_dir else None, limit=limit, workers=workers,
        resume=resume, executor=executor, record=record, replay=replay_dir, timeout_s=timeout_s,
        progress=not no_progress,
    )
    outcome = run_suite(suite, pipeline, options, argv=sys.argv[1:])
    _echo_outcome(outcome, "samples answered now", show_summary=outcome.summary is not None)


@eval_group.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
def report_command(run_dir: Path) -> None:
    """Write RUN_DIR/report.md and a self-contained RUN_DIR/report.html; print the summary."""
    from evals.report import load_run, summary_text, write_report

    run = _load(run_dir, load_run)
    files = write_report(run)
    click.echo(summary_text(run))
    click.echo(f"wrote {files.markdown} and {files.html}", err=True)


@eval_group.command("compare")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--resamples", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="bootstrap resamples")
@click.option("--seed", type=int, default=0, show_default=True, help="bootstrap seed")
@click.option("--json", "as_json", is_flag=True, help="print the comparison as one JSON object")
def compare_command(run_a: Path, run_b: Path, resamples: int, seed: int, as_json: bool) -> None:
    """Pair RUN_B with RUN_A question by question: accuracy difference with a bootstrap CI,
    McNemar's test, the questions that flipped, and cost differences."""
    from evals.report import compare, comparison_text, load_run

    a, b = _load(run_a, load_run), _load(run_b, load_run)
    if a.manifest.suite.name != b.manifest.suite.name:
        click.echo(f"vidagent: note: comparing different suites ({a.manifest.suite.name} vs {b.manifest.suite.name})",
                   err=True)
    try:
        result = compare(a, b, n_resamples=resamples, seed=seed)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        click.echo(comparison_text(a, b, result))


@eval_group.command("suites")
@click.option("--json", "as_json", is_flag=True)
def suites_command(as_json: bool) -> None:
    """List the registered suites (built-in and from the vidagent.suites entry point)."""
    from evals.suites import available_suites

    suites = available_suites()
    if as_json:
        click.echo(json.dumps([{"name": n, "description": c.description, "class": f"{c.__module__}.{c.__qualname__}"}
                               for n, c in suites.items()], indent=2))
        return
    width = max((len(n) for n in suites), default=0)
    for name, cls in suites.items():
        click.echo(f"{name:<{width}}  {cls.description}")


def _suite_class(name: str):
    """The registered suite ``name`` (``-`` read as ``_``: ``folder-actions`` is ``folder_actions``)."""
    from evals.suites import available_suites

    suites = available_suites()
    key = name.replace("-", "_")
    if key not in suites:
        raise InputError(f"unknown suite {name!r}; available: {', '.join(suites)}")
    return suites[key]


def _suite(name: str, data_dir: Path | None, configured_root: str | None, **kwargs):
    """The suite ``name`` reading from ``data_dir``, else from its folder under the data root
    (``evals.data_dirs``; ``configured_root`` is the pipeline's ``[data] dir``)."""
    from evals.data_dirs import data_root

    cls = _suite_class(name)
    return cls(annotations_dir=data_dir or cls.default_data_dir(data_root(configured_root)), **kwargs)


def _run_tracking(suite_name, pipeline_path, out_dir, data_dir, limit, resume, timeout_s, tracks_dir, phrases, *,
                  progress: bool, unused: dict) -> None:
    """``eval run`` for a tracking suite: track (or score) every sequence, print the tables."""
    import sys

    from evals.pipeline import Pipeline
    from evals.tracking_runner import TrackingOptions, run_tracking_suite

    given = [flag for flag, value in unused.items() if value]
    if given:
        raise InputError(f"{', '.join(given)}: not used by the tracking suite {suite_name!r} "
                         "(sequences run one after another, frames come from the sequence folders)")
    if (pipeline_path is None) == (tracks_dir is None):
        raise InputError(f"--suite {suite_name}: pass --pipeline FILE (track with its track_objects) "
                         "or --tracks DIR (score results files), not both")
    pipeline = Pipeline.load(pipeline_path) if pipeline_path is not None else None
    kwargs = {"phrases": phrases} if phrases else {}
    suite = _suite(suite_name, data_dir, pipeline.config.data.dir if pipeline else None, **kwargs)
    options = TrackingOptions(out_dir=out_dir, tracks_dir=tracks_dir, limit=limit, resume=resume,
                              timeout_s=timeout_s, progress=progress)
    outcome = run_tracking_suite(suite, pipeline, options, argv=sys.argv[1:])
    verb = "scored" if tracks_dir is not None else "tracked"
    _echo_outcome(outcome, f"sequences {verb} now", show_summary=bool(outcome.rows))


def _run_recognizer(suite_name, checkpoint, out_dir, data_dir, limit, resume, suite_kwargs, *, progress: bool,
                    unused: dict) -> None:
    """``eval run --suite folder-actions --checkpoint CKPT``: classify every clip, print the tables."""
    import sys

    from evals.recognition_runner import RecognizerRunOptions, run_recognizer_suite

    given = [flag for flag, value in unused.items() if value]
    if given:
        raise InputError(f"{', '.join(given)}: not used with --checkpoint (the recogniser classifies each clip "
                         "itself, no agent runs)")
    suite = _suite(suite_name, data_dir, None, **suite_kwargs)
    options = RecognizerRunOptions(out_dir=out_dir, checkpoint=checkpoint, limit=limit, resume=resume,
                                   progress=progress)
    outcome = run_recognizer_suite(suite, options, argv=sys.argv[1:])
    _echo_outcome(outcome, "clips classified now", show_summary=outcome.summary is not None)


def _echo_outcome(outcome, done_words: str, show_summary: bool) -> None:
    """What a run says when it ends: repairs (stderr), counts (stderr), then the summary tables."""
    from evals.report import load_run, summary_text

    for repair in outcome.repairs:
        click.echo(f"vidagent: resumed after an interruption: {repair}", err=True)
    click.echo(f"{outcome.run_dir.path}: {outcome.n_written} {done_words}, {outcome.n_skipped} already done, "
               f"{outcome.n_selected} selected", err=True)
    if show_summary:
        click.echo(summary_text(load_run(outcome.run_dir.path)))


def _load(path: Path, load_run):
    try:
        return load_run(path)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
