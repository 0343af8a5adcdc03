# her2audit — every target bootstraps its own virtual environment from requirements.lock.
# A Python 3.11 to build .venv with: python3.11 on PATH, else python3 if it is 3.11.
# Another one: `make PYTHON=/path/to/python3.11 demo`.
PYTHON ?= $(shell for p in python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
	2>/dev/null && { command -v $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml Makefile | cksum | cut -d' ' -f1)
UV     := $(BIN)/uv
UV_VERSION := 0.13.8

.PHONY: venv demo test test-fast lint docs bench bench-large bench-network lock clean

venv: $(STAMP)

# --compile-bytecode: each stage process then imports its libraries from .pyc files; from
# source (nothing compiled, e.g. under PYTHONDONTWRITEBYTECODE) importing GX, pandas and
# scipy costs seconds more in every process.
$(STAMP): requirements.lock pyproject.toml Makefile
	@test -x $(BIN)/python || test -n "$(PYTHON)" || { echo "her2audit needs Python 3.11 \
	(none found as python3.11 or python3 on PATH); install it, or point make at one: \
	make PYTHON=/path/to/python3.11 $(MAKECMDGOALS)" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: venv
	$(BIN)/her2audit demo

test: venv
	$(BIN)/python -m pytest

test-fast: venv
	$(BIN)/python -m pytest -m "not slow and not browser and not airflow"

lint: venv
	$(BIN)/ruff check .

# The documentation site (docs/, mkdocs.yml): regenerate the pages made from data files,
# then build strictly (a broken page or link fails) into site/.
docs: venv
	$(BIN)/python docs/generate.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: venv
	$(BIN)/python -m benchmarks.pipeline --patients 100000

bench-large: venv
	$(BIN)/python -m benchmarks.pipeline --patients 1000000

# her2_network_audit on a CeleryExecutor deployment (Redis on 127.0.0.1:6379, PostgreSQL on
# 127.0.0.1:5432): 10 centres of 10,000 patients, worker concurrency 2.
bench-network: venv
	$(BIN)/python -m benchmarks.celery_network --centres 10 --patients 10000 --concurrency 2

# Re-resolve the lock file after changing dependencies in pyproject.toml.
lock: venv
	$(UV) pip compile pyproject.toml --all-extras --python-version 3.11 --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) build site .pytest_cache demo_output
