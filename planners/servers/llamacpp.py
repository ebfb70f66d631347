"""llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``) for a GGUF file.

The lite tier's embedded planner endpoint. Needs ``llama-cpp-python[server]`` in the Python
that runs it (``python`` defaults to this interpreter).

>>> from planners.model_files import smollm2_gguf
>>> with LlamaCppServer(smollm2_gguf()) as server:       # doctest: +SKIP
...     client = OpenAI(base_url=server.base_url, api_key="none")

Prompt reuse: the server keeps the KV cache of the previous request and evaluates only the
tokens after the longest common prefix, so a multi-step conversation re-reads only the new
turn. ``prompt_cache=True`` adds llama.cpp's RAM state cache, which also brings back the
prefix of an older conversation after another one ran in between. With ``state_dir`` the
server's first state is also written to disk (``planners.servers.prefix_state``), so a server
started by a later command skips the prefix an earlier one evaluated.

Structured output on this server, as measured: ``response_format={"type":
"json_object", "schema": S}`` constrains decoding to S; ``{"type": "json_schema"}`` gives
HTTP 500; ``tool_choice="required"`` is ignored, a named function works.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from planners.servers import prefix_state
from planners.servers.process import ManagedServer
from tools.errors import MissingExtraError

DEFAULT_N_CTX = 4096
# One core is left free where other work may run: llama.cpp's threads spin at each barrier, and
# with even one other busy process on a 2-core machine 2 threads decoded 10-40x slower than 1.
DEFAULT_N_THREADS = max(1, (os.cpu_count() or 2) - 1)
# Under this 1-minute load average the machine counts as idle and a server gets every core: on
# 2 idle cores, 2 threads evaluated Qwen-1.5B's prompt at 31-34 tokens/s and decoded at 11,
# against 18-19 and 6 with 1 thread (BENCHMARKS.md).
IDLE_LOAD = 0.5


def default_n_threads(servers: int = 1, load_1min: float | None = None, cores: int | None = None) -> int:
    """llama.cpp threads when none are configured: every core on an idle machine (1-minute load
    average under ``IDLE_LOAD``), else one core left free; ``servers`` run at once share them."""
    cores = cores or os.cpu_count() or 2
    load = os.getloadavg()[0] if load_1min is None else load_1min
    if servers > 1:
        return max(1, (cores - 1) // servers)
    return cores if load < IDLE_LOAD else max(1, cores - 1)
DEFAULT_PROMPT_CACHE_BYTES = 512 * 1024 * 1024
# What a llama.cpp server's command line contains, either way it is started.
SERVER_COMMAND_MARKS = (b"llama_cpp.server", prefix_state.LAUNCHER.name.encode())


class LlamaCppServer(ManagedServer):
    """``python -m llama_cpp.server`` serving ``model_path`` on 127.0.0.1.

    ``n_ctx``: context length in tokens. ``n_threads``: CPU threads for decoding and prompt
    evaluation; default ``default_n_threads()``: every core if the machine is idle when the
    server starts, else one less. llama.cpp's threads spin at every barrier, so more threads
    than free cores is ruinous: on a 2-core machine with one or more other busy processes,
    SmolLM2 decoded 0.4-6.5 tokens/s with 2 threads and 50-70 with 1; Qwen 1.5B 0.3-2.6 against
    5-12. Set it where other work will start while the server runs.
    ``prompt_cache``: keep whole conversation states in RAM (up to
    ``prompt_cache_bytes``). ``state_dir``: also keep the first of them on disk there (at most
    ``state_bytes`` in all), for servers started later to skip the prefix it holds; the directory
    must belong to this model file and ``n_ctx`` (``prefix_state.prefix_state_dir``).
    ``model_alias``: the model name the API reports and accepts
    (default: the file name without ``.gguf``). ``chat_format``: a llama-cpp-python chat
    format name; None uses the template stored in the GGUF. ``startup_timeout_s`` in seconds.
    ``detached``: keep serving after this process exits (``agent.resident_planner``).
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        n_batch: int = 512,
        prompt_cache: bool = True,
        prompt_cache_bytes: int = DEFAULT_PROMPT_CACHE_BYTES,
        state_dir: str | os.PathLike | None = None,
        state_bytes: int = prefix_state.DEFAULT_STATE_BYTES,
        model_alias: str | None = None,
        chat_format: str | None = None,
        seed: int = 0,
        python: str | os.PathLike | None = None,
        port: int | None = None,
        startup_timeout_s: float = 60.0,
        log_path: str | os.PathLike | None = None,
        verbose: bool = True,
        detached: bool = False,
    ):
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"GGUF model not found: {self.model_path}")
        if python is None:
            _require_server_extra()
        self.model_alias = model_alias or self.model_path.name.removesuffix(".gguf")
        self.n_ctx = n_ctx
        self.n_threads = n_threads or default_n_threads()
        self.state_dir = Path(state_dir) if state_dir is not None else None
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            launch = [str(prefix_state.LAUNCHER), str(self.state_dir), str(state_bytes)]
        else:
            launch = ["-m", "llama_cpp.server"]
        command = [
            str(python or sys.executable), *launch,
            "--model", str(self.model_path),
            "--model_alias", self.model_alias,
            "--host", "{host}",
            "--port", "{port}",
            "--n_ctx", str(n_ctx),
            "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads),
            "--n_batch", str(n_batch),
            "--seed", str(seed),
            # The server defaults to logits for every position: n_ctx x n_vocab floats
            # (0.8 GB for SmolLM2, 2.5 GB for Qwen at 4096) copied into every cached state.
            # Only logprobs need them; the planner does not ask for logprobs.
            "--logits_all", "false",
            # Queue concurrent requests instead of cutting off a streaming one.
            "--interrupt_requests", "false",
            "--use_mlock", "false",
            "--cache", "true" if prompt_cache or self.state_dir is not None else "false",
            "--cache_type", "ram" if self.state_dir is None else "disk",
            "--cache_size", str(prompt_cache_bytes),
            # Verbose prints llama.cpp's timings (prompt eval / eval) to the log for each request.
            "--verbose", "true" if verbose else "false",
        ]
        if chat_format:
            command += ["--chat_format", chat_format]
        super().__init__(
            command,
            name="llama.cpp",
            health_path="/v1/models",
            startup_timeout_s=startup_timeout_s,
            port=port,
            log_path=log_path,
            env={"PYTHONUNBUFFERED": "1"},  # log lines appear as they happen
            detached=detached,
        )

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root: ``http://127.0.0.1:<port>/v1``."""
        return self.url + "/v1"


# What ``llama-cpp-python[server]`` adds; found without importing (which would load libllama).
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


def _require_server_extra() -> None:
    if any(importlib.util.find_spec(m) is None for m in _SERVER_MODULES):
        raise MissingExtraError("llama-cpp-python[server]==0.3.36", "lite")
