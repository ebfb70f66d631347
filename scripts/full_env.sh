#!/usr/bin/env bash
# Build the full-tier test environment: a separate venv with vidagent's `full` and `dev` extras
# (torch 2.14.1 + torchvision 0.29.1, transformers, open_clip, scipy), in which the tests
# marked `full` run:  $VENV/bin/python -m pytest -m full tests/tools/backends/full tests/tools/test_tool_contract.py
#
#   scripts/full_env.sh            build once; a second run is a no-op while pyproject.toml and
#                                  this script are unchanged (stamp file)
#   scripts/full_env.sh --force    rebuild from scratch
#   scripts/full_env.sh --print    print the venv's path, build nothing
#
# Where: VIDAGENT_FULL_VENV (default ~/.cache/vidagent/full-venv, outside the checkout like the
# vLLM env, so fresh clones on one machine share it; the tests import the checkout they run in).
# Why a separate venv: PyPI's torchvision (which open_clip and transformers' fast image
# processors import) needs the CUDA build of torch, and the project's venv pins the CPU build
# of torch 2.13 for the lite tier. The CUDA build runs on a CPU: the tests need no GPU. It is
# large (about 5.5 GB, mostly NVIDIA libraries) and takes a few minutes to install.
set -Eeuo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
VENV="${VIDAGENT_FULL_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/vidagent/full-venv}"
PYTHON="${VIDAGENT_FULL_PYTHON:-python3}"
STAMP="$VENV/.vidagent-full-env.stamp"
OFFICIAL_GDINO=(groundingdino-py==0.4.0 transformers==4.57.6 tokenizers==0.22.1 huggingface-hub==0.36.0
                addict==2.4.0 yapf==0.43.0 pycocotools==2.0.10)

step="start"
trap 'echo "full_env.sh: FAILED during step: $step (exit $?). Fix the cause and rerun: bash scripts/full_env.sh" >&2' ERR
say() { echo "full_env.sh: $*"; }

if [[ "${1:-}" == "--print" ]]; then
  echo "VIDAGENT_FULL_VENV=$VENV"
  exit 0
fi

env_key="$(cat "$ROOT/pyproject.toml" "$SCRIPT_DIR/full_env.sh" | sha256sum | cut -d' ' -f1)"
if [[ "${1:-}" == "--force" ]]; then
  say "removing $VENV"
  rm -rf "$VENV"
elif [[ -f "$STAMP" && "$(cat "$STAMP")" == "$env_key" && -x "$VENV/bin/python" ]]; then
  say "up to date: $VENV"
  exit 0
fi
start_s=$SECONDS

step="create venv $VENV with $PYTHON"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
    || { echo "full_env.sh: $PYTHON must be Python >= 3.11 (set VIDAGENT_FULL_PYTHON)" >&2; exit 1; }
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

step="install vidagent[dev,full] (torch and torchvision first, pinned by the full extra)"
say "installing the full extra into $VENV (a few minutes the first time)"
"${PIP[@]}" install -q -e "$ROOT[dev,full]" > "$VENV/pip-install.log" 2>&1 \
  || { grep -v "is ignored: it is neither a file nor a directory" "$VENV/pip-install.log" | tail -20 >&2; false; }
"${PIP[@]}" check >/dev/null || { "${PIP[@]}" check; false; }

# The official Grounding DINO code, used by the tests only, to write a tiny checkpoint in the
# official .pth format and check that vidagent's conversion reproduces its outputs. It needs
# transformers < 5, so it goes into its own folder (put first on PYTHONPATH by the test), without
# dependencies: the venv's torch, timm and numpy serve it.
step="install the official Grounding DINO code into $VENV/gd-official"
"${PIP[@]}" install -q --no-deps --upgrade --target "$VENV/gd-official" "${OFFICIAL_GDINO[@]}" \
  > "$VENV/pip-gd-official.log" 2>&1 \
  || { grep -v "is ignored: it is neither a file nor a directory" "$VENV/pip-gd-official.log" | tail -20 >&2; false; }
(cd "$ROOT" && PYTHONPATH="$VENV/gd-official" "$VENV/bin/python" -c \
  'import transformers, groundingdino.models; assert transformers.__version__.startswith("4."), transformers.__version__')

step="check that torch, torchvision, transformers and open_clip import"
(cd "$ROOT" && "$VENV/bin/python" - <<'PY'
import open_clip, torch, torchvision, transformers  # noqa: F401  (an ImportError fails the step)
from transformers import GroundingDinoForObjectDetection  # noqa: F401
print(f"full_env.sh: torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"transformers {transformers.__version__}, open_clip {open_clip.__version__}")
PY
)

echo "$env_key" > "$STAMP"
say "ready in $((SECONDS - start_s)) s: $VENV"
