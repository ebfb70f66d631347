"""Local LLM servers for the planner, run as managed child processes on 127.0.0.1.

- ``ManagedServer`` (process.py): generic start / health wait / stop of a process group.
- ``LlamaCppServer`` (llamacpp.py): llama-cpp-python's OpenAI-compatible server for a GGUF.
- ``VllmCpuServer`` (vllm_cpu.py): ``vllm serve`` from the separate vLLM CPU venv
  (scripts/vllm_env.sh).
"""

from planners.servers.llamacpp import LlamaCppServer
from planners.servers.process import ManagedServer, ServerStartError, free_port, port_is_free
from planners.servers.vllm_cpu import (
    VllmCpuServer,
    VllmEnvMissingError,
    default_vllm_venv,
    require_vllm_env,
    vllm_env_paths,
)

__all__ = [
    "LlamaCppServer",
    "ManagedServer",
    "ServerStartError",
    "VllmCpuServer",
    "VllmEnvMissingError",
    "default_vllm_venv",
    "free_port",
    "port_is_free",
    "require_vllm_env",
    "vllm_env_paths",
]
