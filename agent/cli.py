"""The ``vidagent`` command.

Exit codes: 0 success; 2 bad input or usage (one line on stderr, no traceback); 1 internal
error (traceback only with ``--debug``). Progress goes to stderr; stdout stays clean for --json.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import click

from agent.cli_options import CACHE_OPTIONS, PLANNER_OPTIONS, TOOL_OPTIONS, agent_config, with_options
from tools.errors import InputError, MissingExtraError, VidagentError


class Exit(Exception):
    def __init__(self, code: int):
        self.code = code


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_status(enabled: bool) -> Iterator:
    """A spinner on stderr whose text follows the agent's progress messages."""
    if not enabled or not sys.stderr.isatty():
        yield lambda message: None
        return
    with _stderr_console().status("starting") as status:
        yield lambda message: status.update(message)


def _print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="show tracebacks of internal errors")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Answer natural-language questions about videos with a planner model and vision tools."""
    ctx.obj = {"debug": debug}
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr)


# -- info ----------------------------------------------------------------------------------


@cli.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--no-shots", is_flag=True, help="skip shot detection")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None)
def info(video: Path, as_json: bool, no_shots: bool, cache_dir: Path | None) -> None:
    """Print a video's metadata and its shot boundaries."""
    from tools.runner import ToolRunner
    from tools.toolset import build_toolset
    from tools.types import ToolCall
    from tools.video import VideoReader

    with VideoReader.open(video) as reader:
        meta = reader.meta
        shots = None
        if not no_shots:
            runner = ToolRunner(build_toolset("core"), reader, cache=_cache(cache_dir))
            with progress_status(not as_json) as progress:
                progress("detecting shots")
                result = runner.run([ToolCall(name="detect_shots", args={})])[0]
            if result.status != "ok":
                raise VidagentError(f"shot detection failed: {result.observation}")
            shots = result.data
    if as_json:
        out = meta.model_dump()
        if shots is not None:
            out["cut_times_s"] = shots.cut_times_s
            out["shots"] = [s.model_dump() for s in shots.shots]
        _print_json(out)
        return
    for key, value in meta.model_dump().items():
        click.echo(f"{key:>10}: {value}")
    if shots is not None:
        cuts = ", ".join(f"{t:.2f}" for t in shots.cut_times_s) or "none"
        click.echo(f"{'cuts (s)':>10}: {cuts}")
        click.echo(f"{'shots':>10}: {len(shots.shots)}")
        for s in shots.shots:
            click.echo(f"{'':>10}  #{s.index}: {s.start_s:.2f}-{s.end_s:.2f} s (frames {s.start_frame}-{s.end_frame})")


def _cache(cache_dir: Path | None, enabled: bool = True):
    from tools.cache import ResultCache

    if not enabled:
        return None
    return ResultCache(Path(cache_dir) / "results.sqlite") if cache_dir else ResultCache.default()


# -- tools ---------------------------------------------------------------------------------


@cli.group()
def tools() -> None:
    """Inspect the registered tools."""


@tools.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--profile", default=None, help="only the tools this profile uses (core, lite, full)")
def tools_list(as_json: bool, profile: str | None) -> None:
    """List tools with their descriptions and argument schemas (with --profile: the tools that
    profile offers, then the ones it drops and why)."""
    from tools.registry import default_registry
    from tools.toolset import build_toolset

    registry = default_registry()
    rows = []
    if profile:
        toolset = build_toolset(profile, registry)
        for name, backend in sorted(toolset.backends.items()):
            others = [b.backend for b in registry.backends(name) if b is not backend and profile in b.profiles]
            rows.append({**backend.spec().model_dump(), "backends": [backend.backend], "profiles": sorted(backend.profiles),
                         "alternatives": others, "dropped": None})
        for name, reason in sorted(toolset.dropped.items()):
            spec = registry.backends(name)[0].spec().model_dump()
            rows.append({**spec, "backends": [], "profiles": [], "dropped": reason})
    else:
        for name in registry.names():
            backends = registry.backends(name)
            spec = backends[0].spec().model_dump()
            profiles = sorted({p for b in backends for p in b.profiles})
            rows.append({**spec, "backends": [b.backend for b in backends], "profiles": profiles})
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        if row.get("dropped"):
            click.echo(f"{row['name']}  not offered by profile {profile}: {row['dropped']}")
            continue
        also = f" (also: {', '.join(row['alternatives'])}; choose with [tools] backends)" if row.get("alternatives") else ""
        click.echo(f"{row['name']}  [{', '.join(row['profiles'])}]  backends: {', '.join(row['backends'])}{also}")
        click.echo("    " + row["description"].splitlines()[0])
        props = row["parameters"].get("properties", {})
        for arg, schema in props.items():
            click.echo(f"    - {arg}: {schema.get('description', schema.get('type', ''))}")


# -- planner -------------------------------------------------------------------------------


@cli.group()
def planner() -> None:
    """Keep the local planner model loaded between commands (start, status, stop)."""


def _local_llm(config_path: Path | None):
    from agent.config import AgentConfig

    config = AgentConfig.load(config_path) if config_path else AgentConfig.lite_default()
    if config.local_llm is None:
        raise InputError(f"{config_path}: the pipeline has no [local_llm] section; nothing to keep loaded")
    return config.local_llm


@planner.command("start")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="pipeline whose [local_llm] to serve (default: the embedded default)")
def planner_start(config_path: Path | None) -> None:
    """Start a llama.cpp server that stays up until `vidagent planner stop`; later commands
    with the same [local_llm] use it and skip the model start and the shared prompt."""
    from agent import resident_planner

    server = resident_planner.start(_local_llm(config_path))
    click.echo(f"planner server running: pid {server.pid}, {server.base_url}, {Path(server.model_path).name}; "
               "stop it with: vidagent planner stop")


@planner.command("status")
def planner_status() -> None:
    """Say whether a resident planner server runs (exit code 0 either way)."""
    from agent import resident_planner

    server = resident_planner.running()
    if server is None:
        click.echo("no planner server running")
        return
    minutes = (time.time() - server.started_at) / 60
    busy = "" if resident_planner.answers(server) else " (busy: not answering within 2 s)"
    click.echo(f"planner server running{busy}: pid {server.pid}, {server.base_url}, {Path(server.model_path).name}, "
               f"n_ctx {server.n_ctx}, {server.n_threads} threads, up {minutes:.0f} min; log: {server.log_path}")


@planner.command("stop")
def planner_stop() -> None:
    """Stop the resident planner server."""
    from agent import resident_planner

    server = resident_planner.stop()
    click.echo("no planner server was running" if server is None else f"stopped planner server pid {server.pid}")


# -- ask -----------------------------------------------------------------------------------


@cli.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.argument("question")
@click.option("-q", "--question", "more_questions", multiple=True,
              help="another question about the same video (repeatable); all share one planner, the decoded frames "
                   "and the tool cache")
@click.option("--option", "options", multiple=True, help="a choice (repeat for multiple choice; one question only)")
@click.option("--json", "as_json", is_flag=True,
              help="print the answer as one JSON object (with -q: one compact object per line, per question)")
@with_options(*PLANNER_OPTIONS, *TOOL_OPTIONS)
@click.option("--max-steps", type=int, default=None)
@click.option("--max-tool-calls", type=int, default=None)
@click.option("--max-seconds", type=float, default=None)
@click.option("--planning", type=click.Choice(["loop", "program"]), default=None,
              help="loop: one JSON action per planner turn; program: the plan written first as a short program "
                   "over the tools (json mode only)")
@click.option("--trace", "trace_path", type=click.Path(path_type=Path), default=None, help="append the trace as JSONL")
@with_options(*CACHE_OPTIONS)
def ask(video: Path, question: str, more_questions: tuple[str, ...], options: tuple[str, ...], as_json: bool,
        config_path, base_url, model, api_key_env, dialect, mode, script, vision, max_images, profile, max_steps,
        max_tool_calls, max_seconds, planning, trace_path, cache_dir, no_cache) -> None:
    """Ask QUESTION (and each -q QUESTION) about VIDEO and print the answers with their evidence."""
    from agent.planner_source import PlannerSource
    from agent.video_agent import VideoAgent
    from tools.video import VideoReader

    config = agent_config(
        config_path, base_url, model, api_key_env, dialect, mode, script, vision, max_images, profile, cache_dir,
        no_cache, budgets={"max_steps": max_steps, "max_tool_calls": max_tool_calls, "max_seconds": max_seconds},
        planning={"style": planning},
    )
    if options and more_questions:
        raise click.UsageError("--option belongs to one multiple-choice question; ask the others in another command")
    reader = VideoReader.open(video)  # bad input fails here, before any planner or cache work
    with reader, PlannerSource(config) as planners, progress_status(not as_json) as progress:
        agent = VideoAgent(
            planner=None,
            tools=_toolset(config),
            tool_names=config.tools.names,
            cache=_cache(Path(config.cache.dir) if config.cache.dir else None, config.cache.enabled),
            budgets=config.budgets,
            tool_timeout_s=config.tools.timeout_s,
            progress=progress,
            planning=config.planning.style,
        )
        planner_failed = False
        for i, q in enumerate((question, *more_questions)):
            agent.planner = planners.for_question()  # a model-backed planner is the same object each time
            answer = agent.ask(reader, q, options=list(options) or None)
            if trace_path:
                answer.trace.write_jsonl(trace_path)
            if as_json and more_questions:  # JSON Lines: one object per question
                click.echo(json.dumps(answer.to_json_dict(), default=str))
            elif as_json:
                _print_json(answer.to_json_dict())
            else:
                if more_questions:
                    click.echo(f"{'' if i == 0 else chr(10)}question: {q}")
                _print_answer(answer, options)
            steps = answer.trace.steps
            planner_failed |= answer.status == "error" and bool(steps) and steps[-1].action == "planner_error"
    if planner_failed:
        raise Exit(1)


def _toolset(config):
    from tools.toolset import build_toolset

    return build_toolset(config.tools)


def _print_answer(answer, options: tuple[str, ...]) -> None:
    if answer.status != "answered":
        click.echo(f"no answer ({answer.status}): {answer.error or ''}".rstrip(": "))
    else:
        if answer.choice is not None and options:
            click.echo(f"answer: ({answer.choice}) {options[answer.choice]}")
            if answer.text.strip() != options[answer.choice].strip():
                click.echo(f"        {answer.text}")
        else:
            click.echo(f"answer: {answer.text}")
        if answer.confidence is not None:
            click.echo(f"confidence: {answer.confidence:.2f}")
        for e in answer.evidence:
            box = f" box={tuple(round(v) for v in e.box)}" if e.box else ""
            click.echo(f"  evidence: {e.time_s:7.2f} s (frame {e.frame_index}){box} {e.note}")
    t = answer.trace.totals
    images = f"{t.images} images to the planner, " if t.images else ""
    click.echo(
        f"[{t.steps} steps, {t.tool_calls} tool calls, {images}{t.prompt_tokens}+{t.completion_tokens} tokens, "
        f"{t.frames_decoded} frames decoded, {t.frames_through_models} through models, "
        f"{t.cache_hits} cache hits, {t.wall_seconds:.1f} s]",
        err=True,
    )


# -- cache ---------------------------------------------------------------------------------


@cli.group()
def cache() -> None:
    """Inspect or clear the result cache."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None)
def cache_info(as_json: bool, cache_dir: Path | None) -> None:
    """Where the cache is, how big, and what it holds."""
    info_ = _cache(cache_dir).info()
    data = info_.model_dump() if hasattr(info_, "model_dump") else dict(info_.__dict__)
    if as_json:
        _print_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key}: {value}")


@cache.command("clear")
@click.option("--tool", default=None, help="only this tool's rows")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None)
def cache_clear(tool: str | None, cache_dir: Path | None) -> None:
    """Delete cached tool results."""
    removed = _cache(cache_dir).clear(tool=tool)
    click.echo(f"removed {removed} cached results")


# -- models --------------------------------------------------------------------------------


@cli.group()
def models() -> None:
    """Check the pretrained models of the lite tier."""


@models.command("check")
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-load", is_flag=True, help="check files only; do not try loading the models")
def models_check(as_json: bool, no_load: bool) -> None:
    """Report which models are present, verified (size and hash) and loadable. Exit 2 if any is not."""
    from planners.model_files import planner_model_status
    from tools.backends.lite.models.assets import model_status

    with progress_status(not as_json) as progress:
        progress("checking tool models")
        statuses = list(model_status(load=not no_load).values())
        progress("checking planner models (the first run assembles the 1.1 GB planner model)")
        statuses += list(planner_model_status(load=not no_load).values())
    ok = all(s.present and s.verified and s.loadable is not False for s in statuses)
    if as_json:
        _print_json([s.__dict__ for s in statuses])
    else:
        for s in statuses:
            load = {True: "loads", False: "DOES NOT LOAD", None: "not loaded"}[s.loadable]
            flags = f"{'present' if s.present else 'MISSING'}, {'verified' if s.verified else 'NOT VERIFIED'}, {load}"
            click.echo(f"{s.model:<28} {flags}" + (f"\n    {s.reason}" if s.reason else ""))
    if not ok:
        raise Exit(2)


# -- commands from other packages ----------------------------------------------------------

COMMANDS_ENTRY_POINT_GROUP = "vidagent.commands"


def _add_plugin_commands() -> None:
    """Add click commands registered under ``vidagent.commands`` (``vidagent eval`` comes from
    the evals package this way, since agent never imports evals)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=COMMANDS_ENTRY_POINT_GROUP):
        if ep.name in cli.commands:
            continue
        try:
            command = ep.load()
        except Exception as exc:
            click.echo(f"vidagent: command plugin {ep.name} ({ep.value}) failed to load: {exc}", err=True)
            continue
        cli.add_command(command, ep.name)


# -- entry point ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and map errors to exit codes (see module docstring)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        _add_plugin_commands()
        cli.main(args=args, prog_name="vidagent", standalone_mode=False)
        return 0
    except Exit as exc:
        return exc.code
    except click.exceptions.Abort:
        click.echo("vidagent: aborted", err=True)
        return 130
    except click.ClickException as exc:  # usage errors
        click.echo(f"vidagent: {exc.format_message()}", err=True)
        return 2
    except (InputError, MissingExtraError) as exc:
        click.echo(f"vidagent: {exc}", err=True)
        return 2
    except VidagentError as exc:
        click.echo(f"vidagent: {exc}", err=True)
        if debug:
            traceback.print_exc()
        return 1
    except Exception as exc:  # internal error
        click.echo(f"vidagent: internal error: {type(exc).__name__}: {exc}" + ("" if debug else " (run with --debug for the traceback)"), err=True)
        if debug:
            traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
