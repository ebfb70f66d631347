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
    if config.local_llm is not None:
        with serve_local_llm(config.local_llm) as base_url:
            local = config.planner.model_copy(update={"base_url": base_url, "dialect": "llamacpp"})
            with _closing(build_planner(local)) as planner:
                yield planner
        return
    with _closing(build_planner(config.planner)) as planner:
        yield planner


@contextmanager
def _closing(planner: Planner) -> Iterator[Planner]:
    try:
        yield planner
    finally:
        close = getattr(planner, "close", None)
        if close is not None:
            close()


def local_model_path(model: str) -> Path:
    """The .gguf file for a LocalLLMConfig.model name (assembled and verified on first use)."""
    from planners import model_files

    if model == "qwen2.5-coder-1.5b":
        return model_files.qwen_coder_gguf()
    if model == "smollm2-135m":
        return model_files.smollm2_gguf()
    path = Path(model).expanduser()
    if path.suffix != ".gguf" or not path.is_file():
        raise ConfigError(f"local_llm.model {model!r} is neither a known model (qwen2.5-coder-1.5b, smollm2-135m) "
                          "nor an existing .gguf file")
    return path


@contextmanager
def serve_local_llm(local) -> Iterator[str]:
    """Start llama.cpp's OpenAI-compatible server for ``local`` and yield its base URL."""
    from planners.servers.llamacpp import LlamaCppServer

    path = local_model_path(local.model)
    threads = {"n_threads": local.n_threads} if local.n_threads else {}
    with LlamaCppServer(path, n_ctx=local.n_ctx, startup_timeout_s=local.startup_timeout_s, **threads) as server:
        yield server.base_url
