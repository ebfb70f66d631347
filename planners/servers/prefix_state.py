"""Where llama.cpp keeps evaluated prompt states on disk, so a new server skips the shared prefix.

Every question of a profile starts with the same system prompt and tool list (about 1,300
tokens for the lite default, about a minute of prompt evaluation on one CPU thread). A llama.cpp
server started with a state directory (``llamacpp_state_launcher``) writes the model state after
its first reply there, and a server started later loads the stored state with the longest
common token prefix and evaluates only the tokens after it. States are keyed by their token
sequence, so a changed prompt simply finds a shorter prefix; the directory is keyed by what makes
a state loadable at all: the model file's sha256 and the context length.

Layout: ``<cache root>/llm-state/<sha256[:16]>-ctx<n_ctx>/`` (``[local_llm] prompt_state_dir``
moves ``llm-state``), a ``diskcache`` store of
llama-cpp-python ``LlamaState`` objects (~170 MB each for Qwen2.5-1.5B), oldest dropped past
the size limit.
"""

from __future__ import annotations

from pathlib import Path

from tools.backends.lite.models.part_files import sha256_file
from tools.cache import cache_root

STATE_DIR_NAME = "llm-state"
DEFAULT_STATE_BYTES = 1 << 30  # ~30 Qwen-1.5B states of a 1,300-token prompt and a few turns


def model_sha256(model_path: Path) -> str:
    """The model file's sha256: from its ``.verified.json`` stamp while size and mtime match
    (vidagent writes one for the models it assembles), else hashed now (~1 s per GB)."""
    from planners.model_files import stamped_sha256

    return stamped_sha256(model_path) or sha256_file(model_path)


def prefix_state_dir(model_path: Path, n_ctx: int, parent: Path | None = None) -> Path:
    """The state directory for ``model_path`` served with ``n_ctx`` tokens of context, under
    ``parent`` (default ``<cache root>/llm-state``)."""
    return (parent or cache_root() / STATE_DIR_NAME) / f"{model_sha256(model_path)[:16]}-ctx{n_ctx}"


# The script ``LlamaCppServer`` runs instead of ``-m llama_cpp.server`` when given a state directory.
LAUNCHER = Path(__file__).with_name("llamacpp_state_launcher.py")
