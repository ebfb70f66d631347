"""Turn a config into a running planner (and stop whatever it started when done)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from planners.base import Planner
from tools.errors import ConfigError


def load_script(path: str | Path) -> list:
    """A scripted planner's actions: a JSON list of action objects (or raw reply strings)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"script file not found: {p}")
    try:
        actions = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not valid JSON (not UTF-8 text)") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(actions, list) or not actions:
        raise ConfigError(f"{p}: expected a non-empty JSON list of actions")
    return actions


@contextmanager
def open_planner(config) -> Iterator[Planner]:
    """Yield the planner ``config.planner`` describes, starting a local server if it needs one."""
    from planners.factory import build_planner

    kind = config.planner.kind
    if kind == "scripted":
        if not config.script:
            raise ConfigError("the scripted planner needs a script: pass --script FILE or set script in the config")
        yield build_planner(config.planner, script=load_script(config.script))
        return
    planner = build_planner(config.planner)
    try:
        yield planner
    finally:
        close = getattr(planner, "close", None)
        if close is not None:
            close()
