"""``vidagent serve``: registered under the ``vidagent.commands`` entry points (agent never
imports this package). FastAPI and uvicorn are imported only when the command runs."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from agent.cli_options import CACHE_OPTIONS, PLANNER_OPTIONS, TOOL_OPTIONS, agent_config, with_options
from server.settings import DEFAULT_PORT, TOKEN_ENV

log = logging.getLogger(__name__)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help=f"address to listen on; anything but loopback needs a token (--token or ${TOKEN_ENV})")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--video-root", "video_roots", multiple=True, type=click.Path(path_type=Path),
              help="a directory whose videos may be registered by path (repeatable)")
@click.option("--eval-root", "eval_roots", multiple=True, type=click.Path(path_type=Path),
              help="a directory holding evaluation runs (repeatable)")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="where server.sqlite and uploads live (default: the user data directory)")
@click.option("--token", envvar=TOKEN_ENV, default=None, show_envvar=True,
              help="required on every request (Authorization: Bearer, or the page opened as /?token=...)")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=512.0, show_default=True)
@click.option("--max-runs", type=click.IntRange(min=1), default=1, show_default=True,
              help="questions answered at once; more are refused with 429")
@with_options(*PLANNER_OPTIONS)
@click.option("--planner-factory", default=None, help="'module:function' returning a planner per question")
@with_options(*TOOL_OPTIONS, *CACHE_OPTIONS)
def serve(host, port, video_roots, eval_roots, data_dir, token, max_upload_mb, max_runs, config_path, base_url,
          model, api_key_env, dialect, mode, script, vision, max_images, planner_factory, profile, cache_dir,
          no_cache) -> None:
    """Serve the HTTP API and the web page (one planner kept loaded for every question)."""
    from tools.errors import require

    require("fastapi", "serve")
    uvicorn = require("uvicorn", "serve")
    from server.app import create_app
    from server.runs import RunManager
    from server.settings import ServerSettings
    from server.store import Store

    settings = ServerSettings.build(
        host=host, port=port, token=token or None, video_roots=tuple(video_roots), eval_roots=tuple(eval_roots),
        data_dir=data_dir or _default_data_dir(), max_upload_bytes=int(max_upload_mb * 2**20), max_active_runs=max_runs,
    )
    config = agent_config(config_path, base_url, model, api_key_env, dialect, mode, script, vision, max_images, profile,
                          cache_dir, no_cache, planner_factory=planner_factory)
    store = Store(settings.data_dir / "server.sqlite")
    try:
        runs = RunManager(config, store, max_active=settings.max_active_runs, planner_factory=planner_factory)
    except BaseException:
        store.close()
        raise
    app = create_app(settings, store, runs)
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    click.echo(f"vidagent serve: http://{shown}:{settings.port}/  planner {runs.planner_label}, "
               f"profile {runs.profile}, data {settings.data_dir}", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=3, limit_concurrency=64)


def _default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("vidagent", appauthor=False)) / "server"


def main(argv: list[str] | None = None) -> int:
    """``python -m server ...``: the ``serve`` command with the vidagent CLI's exit codes."""
    from agent.cli import cli
    from agent.cli import main as vidagent_main

    cli.add_command(serve, "serve")
    return vidagent_main(["serve", *(sys.argv[1:] if argv is None else argv)])
