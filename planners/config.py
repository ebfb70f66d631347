"""How to reach and drive a planner: one frozen, validated config object.

The API key itself never appears here: ``api_key_env`` names the environment variable that
holds it, and the key is read only when a planner is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from planners.dialects import unsupported_reason

PlannerKind = Literal["openai", "scripted"]
PlannerMode = Literal["json", "tools"]
DialectName = Literal["vllm", "llamacpp", "openai"]


@dataclass(frozen=True)
class VisionLimits:
    """Whether a planner looks at frames, and how many and how large the agent should send.

    ``max_images`` is per planner step. ``max_image_side`` is in pixels (the longer side) and
    ``max_image_pixels`` in pixels per image (0: no limit); larger frames are shrunk to fit both
    before sending. A vision-language model's token cost per image grows with its pixels.
    """

    enabled: bool = False
    max_images: int = 0
    max_image_side: int = 0
    max_image_pixels: int = 0


class PlannerConfig(BaseModel):
    """Settings of one planner.

    - ``kind``: ``openai`` (an OpenAI-compatible chat server) or ``scripted`` (replayed replies).
    - ``base_url``: the server's API root including ``/v1``, e.g. ``http://127.0.0.1:8000/v1``.
    - ``model``: the served model name; empty leaves it out of the request (vLLM and llama.cpp
      then use the one model they serve; hosted OpenAI needs it).
    - ``mode``: ``json`` (the reply is one JSON object constrained by a JSON schema) or
      ``tools`` (native function calling with strict tools and a ``final_answer`` pseudo-tool).
    - ``dialect``: how the server takes a structured-output constraint (see ``dialects.py``).
    - ``vision``: the model accepts images; frames are then attached, at most ``max_images``
      per step, each shrunk to ``max_image_side`` pixels on its longer side and, when set, to
      ``max_image_pixels`` pixels in all (Qwen2.5-VL: about one prompt token per 28x28 pixels).
    - ``timeout_s`` is per HTTP attempt; failed attempts are retried ``max_retries`` times,
      waiting ``backoff_s``, then twice that, and so on.
    - ``prompt``: a prompt set name under ``planners/prompts`` or a path to a ``.md`` prompt file.
    """

    # hide_input_in_errors: a key pasted into api_key_env must not be echoed by a validation error
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: PlannerKind = "openai"
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = ""
    api_key_env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="name of the env var holding the API key"
    )
    mode: PlannerMode = "json"
    dialect: DialectName = "vllm"
    vision: bool = False
    max_images: int = Field(default=8, ge=0)
    max_image_side: int = Field(default=768, gt=0)
    max_image_pixels: int | None = Field(default=None, gt=0)
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=1024, gt=0)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    backoff_s: float = Field(default=1.0, ge=0)
    prompt: str = Field(default="default", min_length=1)
    seed: int | None = None

    @model_validator(mode="after")
    def _servable(self) -> "PlannerConfig":
        if self.kind == "openai":
            reason = unsupported_reason(self.dialect, self.mode)
            if reason:
                raise ValueError(reason)
            if self.dialect == "openai" and not self.model:
                raise ValueError("dialect 'openai' needs 'model' (hosted APIs have no default model)")
        return self

    @property
    def vision_limits(self) -> VisionLimits:
        if not self.vision or self.max_images == 0:
            return VisionLimits()
        return VisionLimits(enabled=True, max_images=self.max_images, max_image_side=self.max_image_side,
                            max_image_pixels=self.max_image_pixels or 0)
