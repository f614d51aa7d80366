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

.PHONY: setup demo demo-site demo-recsys demo-help test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -m pip install -q torch==2.13.0 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -m pip install -q -e '.[dev]' 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import torch, sentence_transformers, embedtune; print('installed: torch', torch.__version__, '| sentence-transformers', sentence_transformers.__version__, '| embedtune', embedtune.__version__)"
	touch $@

setup: $(VENV)/.installed

## The main job on bundled data (the Quillnote example site): build passages and training queries,
## fine-tune, evaluate on the site's real visitor questions against the base model and BM25 (verdict
## with 95% CI), run three searches; then the recommendation path on a generated shop log, which ends
## with the shop's verdict: the hybrid (model ⊕ co-occurrence ⊕ transitions ⊕ popularity ⊕ attributes) against every baseline.
## The shop's training (10 positions per user, 2 epochs, lr 2e-4) was chosen on the shop's dev users
## (docs/benchmarks.md, "Demo shop: a text tower strong enough to add to co-occurrence").
## Everything lands in $(RUNS)/; each model folder has its card (README.md) and report.html.
SITE := src/embedtune/examples/site
demo: setup demo-site demo-recsys

demo-site: setup
	$(BIN)/embedtune site build $(SITE) -o $(RUNS)/site/data --url https://quillnote.example/ \
		--questions $(SITE)/questions.jsonl --overwrite --quiet
	$(BIN)/embedtune train --data $(RUNS)/site/data --output $(RUNS)/site/model \
		--epochs 2 --batch-size 32 --lr 5e-5 --max-seq-length 128 --quiet
	$(BIN)/embedtune search --model $(RUNS)/site/model --corpus $(RUNS)/site/data -k 3 --quiet "my notes are not showing up on my phone"
	$(BIN)/embedtune search --model $(RUNS)/site/model --corpus $(RUNS)/site/data -k 3 --quiet "can I get my money back"
	$(BIN)/embedtune search --model $(RUNS)/site/model --corpus $(RUNS)/site/data -k 3 --quiet "share a notebook with a colleague"

demo-recsys: setup
	$(BIN)/embedtune recsys generate -o $(RUNS)/shop/raw --users 400 --items 200 --seed 0
	$(BIN)/embedtune recsys build --log $(RUNS)/shop/raw/log.csv --items $(RUNS)/shop/raw/items.csv \
		-o $(RUNS)/shop/data --max-train-per-user 10 --overwrite --quiet
	$(BIN)/embedtune train --data $(RUNS)/shop/data --output $(RUNS)/shop/model \
		--epochs 2 --batch-size 32 --lr 2e-4 --max-seq-length 160 --quiet
	$(BIN)/embedtune recommend --model $(RUNS)/shop/model --data $(RUNS)/shop/data --user 1 -k 5
	@echo "--- the shop's held-out test: hybrid (model ⊕ cooccurrence ⊕ transitions ⊕ popularity ⊕ attributes) vs every baseline ---"
	@grep -E '^(\*\*(Verdict|Recommendation)|\| (system|model|base|popularity|cooccurrence|transitions|attributes|hybrid|base_hybrid) )' \
		$(RUNS)/shop/model/eval.md
	@echo "--- the same, on the test users whose target is a new or rare item (cold: at most 5 training events) ---"
	@grep -E '^\| (value|cold|warm) ' $(RUNS)/shop/model/eval.md | grep -B1 -E '^\| (cold|warm) ' | grep -v -- '^--$$' || true

## The bundled help-centre set (core path only, no site build).
demo-help: setup
	$(BIN)/embedtune train --data src/embedtune/examples/helpcenter --output $(RUNS)/help \
		--epochs 3 --batch-size 16 --lr 5e-5 --max-seq-length 128 --quiet

## Two workers (pytest-xdist), one per core: the suite's subprocesses, Ray and PostgreSQL starts and browser
## waits overlap (507 s -> 321 s on the 2-core machine). --dist loadfile keeps each test module, and its
## module-scoped fixtures, on one worker.
test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: setup
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(RUNS) .pytest_cache
