# Trợ lý ảo Dịch vụ công — developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

RASA_PY := .venv-rasa/bin/python
ACT_PY  := .venv-actions/bin/python
RASA    := .venv-rasa/bin/rasa
export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONPATH := $(CURDIR)
DEV_FILE ?= ../shared/eval/dev.jsonl
RASA_PORT ?= 5005
ACTIONS_PORT ?= 5055

.PHONY: help setup train index run shell test lint unit validate rasa-test e2e eval eval-e2e eval-dialogue calibrate \
        benchmark benchmark-faiss load run-scaled \
        check-knowledge preview report console clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-16s\033[0m %s\n", $$1, $$2}'

setup: ## Create both venvs and provision the embedding model (idempotent)
	@bash scripts/setup.sh

train: setup ## Train the Rasa model if data or config changed (Rasa skips unchanged training)
	@$(RASA) train --fixed-model-name dvc --out models --quiet

index: setup ## Build and publish the knowledge search index (re-embeds only changed text) and the danger model
	@$(ACT_PY) -m retrieval.index
	@$(ACT_PY) -m dialogue.danger build

run: train index ## Set up, train, index, and start the action server, the Rasa server and the agent console on loopback
	@bash scripts/run.sh

run-scaled: train index ## nginx + 2 Rasa + 2 action servers on PostgreSQL and Redis (REPLICAS=2, SCALED_PORT_BASE=5710; docs/scale.md)
	@$(ACT_PY) scripts/servers.py run-scaled --replicas $(or $(REPLICAS),2)

load: setup ## Load test a running bot with Locust: LOAD_ARGS="--url URL --users 10 --duration 120 [--no-think] [--fault]" (docs/scale.md)
	@.venv-load/bin/python -m loadtest $(LOAD_ARGS)

shell: train index ## Chat with the bot in the terminal
	@bash scripts/run.sh --shell

test: setup lint unit validate train index rasa-test e2e ## Everything CI runs: lint, unit tests, validation, training, Rasa story tests, end-to-end
	@echo "all checks passed"

PY_DIRS := core bot actions retrieval handoff insights dialogue tools evaluation scripts tests loadtest

lint: setup ## ruff check + ruff format --check (pyproject.toml), the layer contracts (import-linter), deploy/ validated offline, no module over 500 lines
	@$(ACT_PY) -m ruff check $(PY_DIRS)
	@$(ACT_PY) -m ruff format --check $(PY_DIRS)
	@.venv-actions/bin/lint-imports --no-cache
	@.venv-load/bin/python scripts/check_deploy.py
	@$(ACT_PY) scripts/check_sizes.py

unit: setup ## Fast offline pytest in both venvs, with the doctests of every package
	@bash scripts/pytest.sh $(RASA_PY) --doctest-modules tests/bot tests/core core bot
	@bash scripts/pytest.sh $(ACT_PY) tests/retrieval tests/tools tests/evaluation tests/actions tests/handoff \
		tests/insights tests/dialogue tests/loadtest tests/test_nfc.py
	@bash scripts/pytest.sh $(ACT_PY) --doctest-modules actions retrieval handoff insights dialogue tools evaluation

validate: setup ## rasa data validate
	@$(RASA) data validate --quiet

rasa-test: train index ## Rasa story tests (tests/conversations) against a running action server
	@bash scripts/rasa_test.sh

e2e: train index ## End-to-end tests through the real REST webhook and the web widget in Chromium
	@bash scripts/pytest.sh $(ACT_PY) tests/e2e

eval: index ## Evaluate the search decision on DEV_FILE (local, no Rasa)
	@$(ACT_PY) -m evaluation.evaluate --file $(DEV_FILE)

eval-e2e: train index ## Evaluate through a freshly started bot's REST webhook (what the README reports)
	@bash scripts/eval_e2e.sh $(DEV_FILE)

eval-dialogue: train index ## Multi-turn conversations through a fresh bot (DIALOGUES=file; default: tuning set + holdout, reported apart)
	@bash scripts/eval_dialogue.sh $(DIALOGUES)

calibrate: index ## Fit fusion weight and thresholds on the tuning split of DEV_FILE + eval/own.jsonl -> retrieval/thresholds.json
	@$(ACT_PY) -m evaluation.calibrate --file $(DEV_FILE) --split tune --extra eval/own.jsonl --write

benchmark: index ## Compare lexical / dense / hybrid / BM25, latency, build time, memory
	@$(ACT_PY) -m evaluation.benchmark --file $(DEV_FILE)

benchmark-faiss: index ## FAISS dense index at 1k/10k/100k/1M units: latency, recall, memory, build -> docs/benchmark.md
	@$(ACT_PY) -m evaluation.faiss_benchmark --out docs/benchmark.md $(FAISS_ARGS)

console: setup ## Agent console and API for hotline agents (http://127.0.0.1:5080/console)
	@$(ACT_PY) -m handoff.server

check-knowledge: setup ## Validate knowledge/ and report problems with file and line
	@$(ACT_PY) -m tools.check

preview: setup ## Show what the bot would answer for Q="..." and why, from knowledge/ as it is now (publishes nothing)
	@$(ACT_PY) -m tools.preview --knowledge knowledge "$(Q)"

report: setup ## What citizens asked that the bot could not answer, feedback per guide -> var/reports (DAYS=30)
	@$(ACT_PY) -m insights.report --days $(or $(DAYS),30) $(REPORT_ARGS)

clean: ## Remove generated models, index and runtime data in the clone (not the cache)
	rm -rf models/*.tar.gz models/index var .rasa
