# her2audit — every target bootstraps its own virtual environment from requirements.lock.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
UV     := $(BIN)/uv
UV_VERSION := 0.13.8

.PHONY: venv demo test test-fast lint bench bench-large lock clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync --quiet --python $(BIN)/python requirements.lock
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

bench: venv
	$(BIN)/python -m benchmarks.pipeline --patients 100000

bench-large: venv
	$(BIN)/python -m benchmarks.pipeline --patients 1000000

# Re-resolve the lock file after changing dependencies in pyproject.toml.
lock: venv
	$(UV) pip compile pyproject.toml --all-extras --python-version 3.11 --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV) build .pytest_cache demo_output
