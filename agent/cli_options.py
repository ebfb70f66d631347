"""Command-line options shared by every command that builds an agent (``vidagent ask``,
``vidagent serve``): where the planner is and which tools it gets. Their values feed
``agent.config.AgentConfig`` overrides under the same names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

PLANNER_OPTIONS = (
    click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                 help="TOML config / pipeline file"),
    click.option("--base-url", default=None, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"),
    click.option("--model", default=None, help="model name the endpoint serves"),
    click.option("--api-key-env", default=None, help="environment variable holding the API key"),
    click.option("--dialect", type=click.Choice(["vllm", "llamacpp", "openai"]), default=None),
    click.option("--mode", type=click.Choice(["json", "tools"]), default=None),
    click.option("--script", type=click.Path(path_type=Path), default=None,
                 help="JSON list of actions (scripted planner)"),
    click.option("--vision/--no-vision", default=None,
                 help="the planner model takes images (e.g. Qwen2.5-VL): each step carries frames ([planner] vision)"),
    click.option("--max-images", type=click.IntRange(min=0), default=None,
                 help="frames per step for a vision planner ([planner] max_images)"),
)


def planner_overrides(base_url, model, api_key_env, dialect, mode, script, vision, max_images) -> dict:
    """The ``[planner]`` overrides the planner options give (None: not given, keep the config's)."""
    planner = {"base_url": base_url, "model": model, "api_key_env": api_key_env, "dialect": dialect, "mode": mode,
               "vision": vision, "max_images": max_images}
    if base_url or script:
        planner["kind"] = "openai" if base_url else "scripted"
    return planner

TOOL_OPTIONS = (
    click.option("--profile", default=None, help="tool profile: core, lite or full"),
)

CACHE_OPTIONS = (
    click.option("--cache-dir", type=click.Path(path_type=Path), default=None),
    click.option("--no-cache", is_flag=True),
)


def with_options(*options: Callable) -> Callable:
    """Apply click options so that they list in the order given (click lists the decorator
    nearest the function last)."""

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate
