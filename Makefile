# fude: the two set-up commands.
#   make demo   create .venv, install fude (CPU torch 2.13.0), train -> evaluate -> predict offline
#   make test   create .venv, install fude with test tools, run the fast tests (not the slow ones)
#   make test-all   the same, then every test: real training, the browser, kill loops (what CI runs)
# The tests read real datasets from a local mirror: FUDE_DATA_DIR (default ../shared/data).

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
FUDE_DATA_DIR ?= $(abspath ../shared/data)
# where torch comes from: empty for PyPI's (or a local wheel); the CPU index where PyPI's is a CUDA build
TORCH_INDEX ?=
export FUDE_DATA_DIR

$(BIN)/fude: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/fude

demo: $(BIN)/fude
	$(BIN)/fude train --dataset kmnist-sample --epochs 15 --out runs/demo --overwrite --quiet
	$(BIN)/fude evaluate --model runs/demo --dataset kmnist-sample --split test
	$(BIN)/fude predict --model runs/demo examples/kmnist-お.png examples/kmnist-や.png
	@echo "--- the shipped models, which need no training:"
	$(BIN)/fude predict --model kmnist examples/kmnist-お.png examples/kmnist-や.png
	$(BIN)/fude predict --model mnist examples/mnist-7.png
	$(BIN)/fude predict-strokes examples/strokes-あ.json examples/strokes-き-app-layout.json

test: $(BIN)/fude
	$(BIN)/python -m pytest -q -m "not slow"

test-all: $(BIN)/fude
	$(BIN)/python -m pytest -q

.PHONY: install demo test test-all
