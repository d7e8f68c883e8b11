#!/usr/bin/env bash
# The GPU check (docs/vllm.md): on a machine with CUDA, build a GPU env (CUDA torch 2.13.0 + vllm 0.32.0,
# the versions envs/vllm pins for the CPU build), then
#   1. run every test marked `gpu` (the CUDA vLLM engine against hf:, weight sync into it, ...),
#   2. run the vLLM tests (tests/vllm) on the CUDA engine,
#   3. run the first RL steps of every GPU recipe (baselines/recipes/gpu-*.yaml) under torchrun with their
#      own settings (DDP or FSDP, vLLM rollouts colocated, weight sync after each update), on a tiny model
#      unless GPU_CHECK_MODELS=hub (then the recipe's own model: needs the hub or a local copy).
# Usage: bash scripts/gpu_check.sh            (from the repository root; ~10-20 min with tiny models)
# Env:   GPU_CHECK_VENV (default .venv-gpu), GPU_CHECK_STEPS (default 2), GPU_CHECK_NPROC (default: all GPUs),
#        GPU_CHECK_MODELS (tiny | hub), GPU_CHECK_OUT (default runs/gpu-check).
# Writes GPU_CHECK_OUT/summary.txt: one line per check, PASS or FAIL, and exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

VENV=${GPU_CHECK_VENV:-.venv-gpu}
STEPS=${GPU_CHECK_STEPS:-2}
MODELS=${GPU_CHECK_MODELS:-tiny}
OUT=${GPU_CHECK_OUT:-runs/gpu-check}
TORCH_VERSION=2.13.0
VLLM_VERSION=0.32.0

die() { echo "gpu_check: $*" >&2; exit 2; }
command -v nvidia-smi >/dev/null || die "no nvidia-smi: this script needs a CUDA machine"
NGPU=$(nvidia-smi --list-gpus | wc -l)
[ "$NGPU" -ge 1 ] || die "nvidia-smi lists no GPU"
NPROC=${GPU_CHECK_NPROC:-$NGPU}
mkdir -p "$OUT"
: > "$OUT/summary.txt"

# -- the env: plain uv pip (the lock pins the CPU torch wheel; --no-sources ignores that path) -------------
if [ ! -x "$VENV/bin/python" ]; then
  command -v uv >/dev/null || python3 -m pip install -q uv || die "cannot install uv"
  uv venv -q --python 3.11 "$VENV" || die "cannot create $VENV"
fi
PY="$VENV/bin/python"
uv pip install -q --python "$PY" --no-sources "torch==$TORCH_VERSION" "vllm==$VLLM_VERSION" \
  -e '.[dev,webshop,swe]' || die "installing torch $TORCH_VERSION + vllm $VLLM_VERSION failed"
"$PY" - <<'EOF' || die "torch sees no CUDA device in $VENV"
import torch, vllm
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
n, name = torch.cuda.device_count(), torch.cuda.get_device_name(0)
print(f"torch {torch.__version__} ({n} x {name}), vllm {vllm.__version__}")
EOF

FAILED=0
check() {  # check NAME COMMAND...: run, log to $OUT/NAME.log, record PASS/FAIL
  local name=$1; shift
  local t0=$SECONDS
  if "$@" > "$OUT/$name.log" 2>&1; then
    echo "PASS $name ($((SECONDS - t0)) s)" | tee -a "$OUT/summary.txt"
  else
    echo "FAIL $name ($((SECONDS - t0)) s): see $OUT/$name.log" | tee -a "$OUT/summary.txt"
    tail -n 20 "$OUT/$name.log"
    FAILED=1
  fi
}

check gpu-marked-tests "$PY" -m pytest -m gpu -p no:cacheprovider -rs tests
check vllm-tests "$PY" -m pytest -p no:cacheprovider -rs tests/vllm

# -- first steps of the GPU recipes ---------------------------------------------------------------------
TINY="$OUT/tiny-model"
"$PY" -c "from aem_gym.agents.tiny import build_tiny_model; build_tiny_model('$TINY')" \
  || die "cannot build the tiny model"
for recipe in $("$PY" -c "from aem_gym.baselines.config import list_recipes
print(' '.join(r for r in list_recipes() if r.startswith('gpu-')))"); do
  sets=(--set "rl.steps=$STEPS" --set "eval.every=0" --set "eval.episodes=4" --set "eval.final_episodes=4"
        --set "checkpoint.every=0" --set "out_dir=$OUT/$recipe" --set "rollout.groups=$((2 * NPROC))"
        --set "rollout.group_size=2")
  if [ "$MODELS" = tiny ]; then
    sets+=(--set "model.init=$TINY" --set "model.max_prompt_tokens=1024" --set "model.max_new_tokens=64")
  fi
  check "recipe-$recipe" "$VENV/bin/torchrun" --standalone --nproc_per_node "$NPROC" \
    -m aem_gym.baselines.distributed --recipe "$recipe" "${sets[@]}"
  if [ -f "$OUT/$recipe/metrics.csv" ]; then
    "$PY" - "$OUT/$recipe/metrics.csv" <<'EOF' | tee -a "$OUT/summary.txt"
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r.get("kind") == "train"]
gaps = [r.get("rollout/logprob_gap", "") for r in rows]
print(f"     {sys.argv[1]}: {len(rows)} train steps, rollout/logprob_gap per step {gaps}")
EOF
  fi
done

echo "summary: $OUT/summary.txt"
exit $FAILED
