# Two commands on a fresh machine: `make run` (the main job) and `make test` (the whole suite).
# Both bootstrap .venv first with uv from uv.lock (the same versions on any later day); the bootstrap is
# skipped when nothing it depends on has changed.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.bootstrapped
# uv itself, pinned, in a small tool venv of its own (uv sync keeps .venv exactly as the lock says).
UV_VERSION := 0.13.9
TOOLS   := .tools
UV      := $(TOOLS)/bin/uv
# Extras installed by the bootstrap: the test tools and every upstream backend the tests exercise.
EXTRAS  ?= dev swe webshop leaderboard scienceworld textworld miniwob household ray
# The venv's bin first on PATH: some sdists (fast-downward-textworld, built for the household extra) run
# `python build.py` from PATH inside the isolated build, and a pyenv shim there fails.
UVRUN   := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" UV_PYTHON=3.11 $(UV)

.PHONY: run test lint bench system lock lock-check clean

$(UV):
	@python3 -m venv $(TOOLS)
	@$(TOOLS)/bin/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)

# Fails with one line naming the fix when pyproject.toml and uv.lock disagree (CI runs this too).
lock-check: $(UV)
	@$(UVRUN) lock --check >/dev/null 2>&1 || { \
	  echo "uv.lock does not match pyproject.toml: run \`make lock\` and commit uv.lock" >&2; \
	  $(UVRUN) lock --check 2>&1 | tail -n 3 >&2; exit 1; }

lock: $(UV)
	$(UVRUN) lock

$(STAMP): pyproject.toml uv.lock Makefile examples/aem-example-plugin/pyproject.toml | $(UV)
	@$(MAKE) --no-print-directory lock-check
	@echo "bootstrapping $(VENV) from uv.lock (torch $(shell grep -A1 '^name = "torch"' uv.lock | tail -1 | cut -d'"' -f2))"
	@$(UVRUN) sync --frozen $(addprefix --extra ,$(EXTRAS)) || { \
	  echo "the bootstrap failed; scripts/check_bootstrap.sh says what is missing" >&2; \
	  bash scripts/check_bootstrap.sh >&2; exit 1; }
	@touch $@

# System packages and services the tests need (sandboxes, Docker, Chromium, Java, faketime); idempotent.
system:
	@bash scripts/setup_system.sh

# The main job: evaluate oracle, random and the trained baselines (where their checkpoints exist) on the
# default suite, submit them to the local leaderboard (runs/leaderboard.sqlite), print the ranking.
run: $(STAMP)
	$(PY) -m aem_gym.leaderboard.job

test: $(STAMP) system
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) $(TOOLS) *.egg-info .pytest_cache .ruff_cache
