# Quick start: `make run` and `make test`. Both create .venv if it is missing and install into it:
# torch and torchvision first (pinned; pip takes them from this machine's disk), then snnleak in
# editable mode with the dev extra, without build isolation so that no build step pulls another
# torch.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.snnleak-installed
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: setup run test lint format clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml setup.py
	$(PIP) install --quiet --disable-pip-version-check $(TORCH)
	$(PIP) install --quiet --disable-pip-version-check "setuptools>=69" wheel
	$(PIP) install --quiet --disable-pip-version-check --no-build-isolation -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# The main job (until the reproduction lands): what is installed, then a real neuron demo.
run: setup
	$(VENV)/bin/snnleak info
	$(VENV)/bin/snnleak demo
	$(VENV)/bin/snnleak demo --kind lif --tau 2.5 --soft-reset

test: setup lint
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
