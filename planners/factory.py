"""Build a planner from its config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

from planners.base import Planner, PlannerInput
from planners.config import PlannerConfig
from planners.openai_compat import OpenAICompatiblePlanner
from planners.scripted import FunctionPlanner, ScriptedPlanner, ScriptStep
from tools.errors import ConfigError

Script = Iterable[ScriptStep] | Callable[[PlannerInput], object] | str | Path


def build_planner(config: PlannerConfig, script: Script | None = None) -> Planner:
    """The planner ``config`` describes.

    ``kind="openai"``: an OpenAICompatiblePlanner (``script`` must be None).
    ``kind="scripted"``: ``script`` is a list of steps (actions, dicts or raw strings), a
    function ``PlannerInput -> step``, or the path of a JSON file holding a list of steps.
    """
    if config.kind == "openai":
        if script is not None:
            raise ConfigError("a script was given but the planner kind is 'openai'; set kind 'scripted' to replay it")
        return OpenAICompatiblePlanner(config)
    if script is None:
        raise ConfigError("planner kind 'scripted' needs a script (a list of steps, a function or a JSON file)")
    if isinstance(script, (str, Path)):
        return ScriptedPlanner(load_script(Path(script)), name=f"scripted:{Path(script).name}", vision_limits=config.vision_limits)
    if callable(script):
        return FunctionPlanner(script, vision_limits=config.vision_limits)
    return ScriptedPlanner(script, vision_limits=config.vision_limits)


def load_script(path: Path) -> list[ScriptStep]:
    """A JSON file holding a list of steps: action objects, or strings kept as raw replies."""
    try:
        steps = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"planner script {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"planner script {path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(steps, list) or not all(isinstance(s, (dict, str)) for s in steps):
        raise ConfigError(f"planner script {path} must hold a JSON list of action objects or strings")
    return steps
