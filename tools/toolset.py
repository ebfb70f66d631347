"""The tools one run uses: one backend per capability, chosen by a profile and a config.

``build_toolset(ToolsConfig)`` is the one function that turns configuration into a ``ToolSet``
(the CLI, the Python API and the evaluation workers all call it). A backend whose required
capabilities have no backend in the profile is dropped, and the toolset says why, so a
derived tool is never shown to the planner without what it builds on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.errors import ConfigError
from tools.model_loading import ModelOptions, Precision, Weights
from tools.types import ToolSpec

if TYPE_CHECKING:
    from tools.registry import ToolBackend, ToolRegistry

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


class VisualModelConfig(BaseModel):
    """The vision-language model server that the ``vlm`` tool backends ask (``[tools.visual]``).

    An OpenAI-compatible chat endpoint that accepts images (vLLM serving Qwen2.5-VL or
    InternVL). ``base_url`` includes ``/v1``; ``model`` is the served name (empty: the server's
    only model); ``api_key_env`` names the environment variable holding the key. Each frame is
    shrunk to ``max_image_side`` pixels on its longer side and ``max_image_pixels`` pixels in
    all; ``max_images`` frames at most go in one request (vLLM's ``--limit-mm-per-prompt``).
    ``max_tokens`` caps each answer; ``timeout_s`` is per request, seconds. When unset and the
    planner itself sees images, the agent fills it with the planner's server.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    base_url: str = Field(min_length=1, description="API root including /v1, e.g. http://127.0.0.1:8000/v1")
    model: str = ""
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    max_images: int = Field(default=1, ge=1)
    max_image_side: int = Field(default=768, gt=0)
    max_image_pixels: int | None = Field(default=None, gt=0)
    max_tokens: int = Field(default=160, gt=0)
    temperature: float = Field(default=0.0, ge=0, le=2)
    timeout_s: float = Field(default=120.0, gt=0)


class ToolsConfig(BaseModel):
    """The ``[tools]`` section of a run's configuration.

    ``profile``: ``core`` (weight-free), ``lite`` (CPU models from PyPI packages) or ``full``
    (GPU models). ``names``: limit the planner to these tools. ``backends``: tool name ->
    backend name, overriding the profile's choice. ``device``: where models run (``cpu``,
    ``cuda``, ``cuda:1``). ``timeout_s``: the longest any one tool call may take, seconds.
    ``weights``: model name -> a hub id (``ORG/NAME``, ``hub:ORG/NAME@REVISION``) or a local path
    (a fine-tuned checkpoint), overriding the model's default weights. ``precision``: ``auto``
    (bfloat16/float16 on a GPU, float32 on the CPU) or one of float32, float16, bfloat16.
    ``batch_size``: model name -> frames per forward pass. ``model_memory_gb``: the most memory
    the loaded models of a device may hold; the least recently used are evicted past it.
    ``recognizers``: name -> a trained recogniser's checkpoint folder (``vidagent train
    recognizer``); any profile then offers ``recognize_action`` over them.
    ``visual``: the vision-language server that backends declaring ``needs=("visual",)`` ask;
    without it those backends are left out of the toolset (and the toolset says why).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str = "core"
    names: list[str] | None = Field(default=None, description="limit the planner to these tools")
    backends: dict[str, str] = Field(default_factory=dict, description="tool name -> backend name overrides")
    device: str = Field(default="cpu", description="where models run: cpu, cuda, cuda:N")
    timeout_s: float = Field(default=120.0, gt=0)
    weights: dict[str, str] = Field(default_factory=dict, description="model name -> hub id or local path")
    precision: Precision = Field(default="auto", description="auto, float32, float16 or bfloat16")
    batch_size: dict[str, int] = Field(default_factory=dict, description="model name -> frames per forward pass")
    model_memory_gb: float | None = Field(default=None, gt=0, description="memory budget of a device's models")
    recognizers: dict[str, str] = Field(
        default_factory=dict, description="name -> trained recogniser checkpoint folder (the recognize_action tool)")
    visual: VisualModelConfig | None = Field(
        default=None, description="the vision-language server of the vlm backends (describe_frames, ask_frames)"
    )

    def model_options(self) -> ModelOptions:
        """How this configuration's models load."""
        return ModelOptions(
            weights={name: Weights.parse(ref) for name, ref in self.weights.items()},
            precision=self.precision,
            batch_sizes=dict(self.batch_size),
            memory_budget_gb=self.model_memory_gb,
        )

    @field_validator("batch_size")
    @classmethod
    def _positive_batches(cls, sizes: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in sizes.items() if v < 1}
        if bad:
            raise ValueError(f"batch sizes must be at least 1: {bad}")
        return sizes

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if not _DEVICE.match(device):
            raise ValueError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps")
        return device


@dataclass(frozen=True)
class ToolSet:
    """The backends a run uses, one per capability.

    ``dropped``: tool name -> why the profile does not offer it (a missing requirement), for
    ``vidagent tools list``. ``device``: where this toolset's models run. ``models``: how they
    load (weights overrides, precision, batch sizes, memory budget). ``visual``: the
    vision-language server its ``vlm`` backends ask (``ToolsConfig.visual``).
    """

    profile: str
    backends: dict[str, "ToolBackend"]
    dropped: dict[str, str] = field(default_factory=dict)
    device: str = "cpu"
    models: ModelOptions = field(default_factory=ModelOptions)
    visual: VisualModelConfig | None = None

    def specs(self) -> list[ToolSpec]:
        """What the planner is shown: every tool but the internal building blocks."""
        return [b.spec() for _, b in sorted(self.backends.items()) if not b.capability.internal]

    def get(self, name: str) -> "ToolBackend | None":
        return self.backends.get(name)

    def names(self) -> list[str]:
        return sorted(self.backends)

    def only(self, names: list[str]) -> "ToolSet":
        """This toolset narrowed to ``names`` (ConfigError naming any it does not have)."""
        missing = set(names) - set(self.backends)
        if missing:
            reasons = "; ".join(f"{n}: {self.dropped[n]}" for n in sorted(missing) if n in self.dropped)
            raise ConfigError(
                f"tools not in profile {self.profile!r}: {', '.join(sorted(missing))}" + (f" ({reasons})" if reasons else "")
            )
        return replace(self, backends={n: self.backends[n] for n in names})


def select_backends(
    registered: dict[str, list["ToolBackend"]],
    profile: str,
    overrides: dict[str, str],
    settings: frozenset[str] = frozenset(),
) -> ToolSet:
    """Pick one backend per capability for ``profile`` (highest priority first; ``overrides``
    name a backend explicitly), then drop backends whose ``requires`` are not all offered,
    repeating until nothing more drops. ``settings``: the ``ToolsConfig`` settings that are
    set (``"visual"``); a backend whose ``needs`` are not all among them is not chosen."""
    from tools.registry import PROFILES

    if profile not in PROFILES:
        raise ConfigError(f"unknown tool profile {profile!r}; choose one of {', '.join(PROFILES)}")
    unknown = set(overrides) - set(registered)
    if unknown:
        raise ConfigError(f"backend overrides name unknown tools: {', '.join(sorted(unknown))}")
    chosen: dict[str, ToolBackend] = {}
    unmet: dict[str, str] = {}
    for name, backends in sorted(registered.items()):
        if name in overrides:
            match = [b for b in backends if b.backend == overrides[name]]
            if not match:
                have = ", ".join(b.backend for b in backends)
                raise ConfigError(f"tool {name} has no backend {overrides[name]!r} (have: {have})")
            unset = [n for n in match[0].needs if n not in settings]
            if unset:
                raise ConfigError(f"backend {overrides[name]!r} of tool {name} needs [tools] {', '.join(unset)}, which is not set")
            chosen[name] = match[0]
            continue
        fitting = [b for b in backends if profile in b.profiles]
        runnable = [b for b in fitting if all(n in settings for n in b.needs)]
        if runnable:
            chosen[name] = max(runnable, key=lambda b: b.priority)
        elif fitting:
            unset = sorted({n for b in fitting for n in b.needs if n not in settings})
            unmet[name] = f"needs [tools] {', '.join(unset)}, which this configuration does not set"
    dropped: dict[str, str] = dict(unmet)
    changed = True
    while changed:
        changed = False
        for name, b in sorted(chosen.items()):
            missing = [r for r in b.requires if r not in chosen]
            if missing:
                dropped[name] = f"needs {', '.join(missing)}, which profile {profile!r} does not offer"
                del chosen[name]
                changed = True
    return ToolSet(profile=profile, backends=chosen, dropped=dropped)


def build_toolset(config: ToolsConfig | str, registry: "ToolRegistry | None" = None) -> ToolSet:
    """The toolset ``config`` describes (a profile name stands for ``ToolsConfig(profile=...)``).

    ``registry``: where backends come from; default: every installed ``vidagent.tools`` plugin,
    vidagent's own included. Raises ConfigError for an unknown profile, tool or backend.
    """
    from tools.registry import default_registry

    if isinstance(config, str):
        config = ToolsConfig(profile=config)
    registry = registry or default_registry()
    settings = frozenset(name for name in ("visual",) if getattr(config, name) is not None)
    toolset = registry.toolset(config.profile, config.backends, settings)
    backends = dict(toolset.backends)
    if config.recognizers:  # trained checkpoints named in config: a backend built from their cards
        from tools.recognition.backend import recognizer_backend

        backends["recognize_action"] = recognizer_backend(config.recognizers)
    toolset = replace(toolset, backends=backends, device=config.device, models=config.model_options(),
                      visual=config.visual)
    return toolset.only(config.names) if config.names is not None else toolset
