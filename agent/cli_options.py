"""Command-line options shared by every command that builds an agent (``vidagent ask``,
``vidagent serve``): where the planner is and which tools it gets. Their values feed
``agent.config.AgentConfig`` overrides under the same names (``agent_config``)."""

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


def agent_config(config_path, base_url, model, api_key_env, dialect, mode, script, vision, max_images, profile,
                 cache_dir, no_cache, *, planner_factory: str | None = None, **sections: dict):
    """The ``AgentConfig`` the planner, tool and cache options give (None: an option not given,
    the config's value stays): the embedded lite default unless a config file, an endpoint, a
    script or a planner factory is named. ``sections``: more overrides, section -> key -> value
    (``vidagent ask``'s budgets and planning style)."""
    from agent.config import AgentConfig

    planner = {"base_url": base_url, "model": model, "api_key_env": api_key_env, "dialect": dialect, "mode": mode,
               "vision": vision, "max_images": max_images}
    if base_url or script:
        planner["kind"] = "openai" if base_url else "scripted"
    base = None if (config_path or base_url or script or planner_factory) else AgentConfig.lite_default()
    return AgentConfig.load(config_path, {
        "": {"script": str(script) if script else None},
        "planner": planner,
        "tools": {"profile": profile},
        "cache": {"dir": str(cache_dir) if cache_dir else None, "enabled": False if no_cache else None},
        **sections,
    }, base=base)


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
