# Two commands on a fresh machine: `make run` (the main job) and `make test` (the whole suite).
# Both bootstrap .venv first; the bootstrap is skipped when nothing it depends on has changed.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.bootstrapped
# Extras installed by the bootstrap: the test tools and every upstream backend the tests exercise.
EXTRAS  ?= dev,swe,webshop,leaderboard,scienceworld,textworld,miniwob,household,ray
# The venv's bin first on PATH: some sdists (fast-downward-textworld, built for the household extra) run
# `python build.py` from PATH inside pip's build, and a pyenv shim there fails in the isolated build.
PIP     := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pip install -q --disable-pip-version-check

.PHONY: run test lint bench system clean

$(STAMP): pyproject.toml Makefile examples/aem-example-plugin/pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "bootstrapping $(VENV) (torch pinned to the CPU build before the project)"
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e '.[$(EXTRAS)]' -e examples/aem-example-plugin
	@touch $@

# System packages and services the tests need (sandboxes, Docker, Chromium, Java); idempotent.
system:
	@bash scripts/setup_system.sh

# The main job: evaluate oracle, random and the trained baselines (where their checkpoints exist) on the
# default suite, submit them to the local leaderboard (runs/leaderboard.sqlite), print the ranking.
run: $(STAMP)
	$(PY) -m leaderboard.job

test: $(STAMP) system
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
