# embedtune: `make demo` runs the main job on bundled data, `make test` runs the test suite.
# Both create .venv if absent and install torch 2.13.0 (CPU build) before the project, because a
# bare `torch` requirement would pull a multi-GB CUDA build.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNS ?= runs
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo demo-help test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -m pip install -q torch==2.13.0 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -m pip install -q -e '.[dev]' 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import torch, sentence_transformers, embedtune; print('installed: torch', torch.__version__, '| sentence-transformers', sentence_transformers.__version__, '| embedtune', embedtune.__version__)"
	touch $@

setup: $(VENV)/.installed

## The main job on bundled data: fine-tune on the Quillnote help centre, evaluate on its held-out
## split against the base model and BM25, and leave the model (with its card) in runs/demo.
demo: setup
	$(BIN)/embedtune train --data src/embedtune/examples/helpcenter --output $(RUNS)/demo \
		--epochs 3 --batch-size 16 --lr 5e-5 --max-seq-length 128 --quiet

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(RUNS) .pytest_cache
