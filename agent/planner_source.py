"""The one place that turns configuration into planners (CLI, Python API and evaluation alike).

``PlannerSource(config)`` gives a planner per question:
- ``planner.kind = "openai"``: one OpenAI-compatible client, built once and shared by every
  question; with ``[local_llm]`` vidagent first starts llama.cpp on 127.0.0.1 for it;
- ``planner.kind = "scripted"``: a ScriptedPlanner rebuilt for every question from the JSON
  file ``script`` names (a script is one question's conversation);
- ``planner_factory = "module:function"``: the function is called for every question (for
  planners written in Python; it must be importable in evaluation worker processes).

Closing the source stops whatever it started (clients, the local server).
"""

from __future__ import annotations

import importlib
import json
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterator

from agent.config import AgentConfig, LocalLLMConfig
from planners.base import Planner
from planners.config import PlannerConfig
from tools.errors import ConfigError


class PlannerSource:
    """The planners ``config`` describes, one per question (see the module docstring)."""

    def __init__(self, config: AgentConfig, planner_factory: str | None = None):
        self._stack = ExitStack()
        self._make: Callable[[], Planner]
        try:
            self._make = self._maker(config, planner_factory)
        except BaseException:
            self._stack.close()
            raise

    def for_question(self) -> Planner:
        return self._make()

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "PlannerSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _maker(self, config: AgentConfig, planner_factory: str | None) -> Callable[[], Planner]:
        if planner_factory is not None:
            return import_factory(planner_factory)
        if config.planner.kind == "scripted":
            from planners.scripted import ScriptedPlanner

            if not config.script:
                raise ConfigError("the scripted planner needs a script: pass --script FILE or set script in the config")
            steps = load_script(config.script)
            name = f"scripted:{Path(config.script).name}"
            limits = config.planner.vision_limits
            return lambda: ScriptedPlanner(list(steps), name=name, vision_limits=limits)
        planner_config = config.planner
        if config.local_llm is not None:
            base_url = self._stack.enter_context(serve_local_llm(config.local_llm))
            planner_config = planner_config.model_copy(update={"base_url": base_url, "dialect": "llamacpp"})
        shared = self._stack.enter_context(_closing(_http_planner(planner_config)))
        return lambda: shared


@contextmanager
def open_planner(config: AgentConfig) -> Iterator[Planner]:
    """The one planner a single command needs (a local server, if any, stops on exit)."""
    with PlannerSource(config) as source:
        yield source.for_question()


def _http_planner(config: PlannerConfig) -> Planner:
    from planners.openai_compat import OpenAICompatiblePlanner

    return OpenAICompatiblePlanner(config)


@contextmanager
def _closing(planner: Planner) -> Iterator[Planner]:
    try:
        yield planner
    finally:
        close = getattr(planner, "close", None)
        if close is not None:
            close()


def load_script(path: str | Path) -> list:
    """A scripted planner's steps: a non-empty JSON list of action objects, or of strings that
    are kept as raw replies (to test how invalid replies are handled)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"planner script {p} does not exist")
    try:
        steps = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"planner script {p} is not valid JSON (not UTF-8 text)") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"planner script {p} is not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(steps, list) or not steps or not all(isinstance(s, (dict, str)) for s in steps):
        raise ConfigError(f"planner script {p} must hold a non-empty JSON list of action objects or strings")
    return steps


def import_factory(spec: str) -> Callable[[], Planner]:
    """The function ``"package.module:function"`` names (ConfigError when it cannot be imported)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"planner factory {spec!r} must look like 'package.module:function'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"planner factory {spec!r} cannot be imported: {exc}") from exc
    if not callable(factory):
        raise ConfigError(f"planner factory {spec!r} is not callable")
    return factory


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
def serve_local_llm(local: LocalLLMConfig) -> Iterator[str]:
    """Yield the base URL of llama.cpp's OpenAI-compatible server for ``local``: the resident
    server (``vidagent planner start``) when one serves it, else one started for this block."""
    from agent import resident_planner
    from planners.servers.llamacpp import LlamaCppServer

    resident = resident_planner.find(local)
    if resident is not None:
        yield resident.base_url
        return
    path = local_model_path(local.model)
    threads = {"n_threads": local.n_threads} if local.n_threads else {}
    with LlamaCppServer(path, n_ctx=local.n_ctx, startup_timeout_s=local.startup_timeout_s,
                        **prompt_state_options(local, path), **threads) as server:
        yield server.base_url


def prompt_state_options(local: LocalLLMConfig, model_path: Path) -> dict:
    """``LlamaCppServer`` keyword arguments that keep the prompt prefix on disk, as ``local`` asks."""
    from planners.servers.prefix_state import prefix_state_dir

    if not local.prompt_state_on_disk:
        return {}
    parent = Path(local.prompt_state_dir).expanduser() if local.prompt_state_dir else None
    return {"state_dir": prefix_state_dir(model_path, local.n_ctx, parent), "state_bytes": local.prompt_state_bytes}
