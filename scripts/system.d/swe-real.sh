# swe-real (tasks/swe-real, docs/swe-real.md): the pinned sdists of the real projects, each unpacked as a
# one-commit git repo, and each project's test environment (pinned wheels), in the user cache dir
# (aem_envs/swe/real/sources.py). Network once (PyPI), then cached; idempotent (~1 min the first time).
# Sourced by scripts/setup_system.sh under `set -euo pipefail`: nothing here may abort the whole setup;
# without it, aem/SWERepair-v0 on swe-real says to run `make system` and its tests skip.
post_swe_real() {
  local py=.venv/bin/python
  if [ ! -x "$py" ]; then
    echo "swe-real: no .venv yet (\`make test\`/\`make run\` bootstrap it first); set-up skipped" >&2
    return 0
  fi
  local uv="${AEM_UV:-}"
  if [ -z "$uv" ] && [ -x .tools/bin/uv ]; then uv="$PWD/.tools/bin/uv"; fi
  if [ -n "$uv" ]; then export AEM_UV="$uv"; fi
  "$py" -m aem_envs.swe.real.sources setup --quiet || echo "swe-real: set-up failed; its tests will skip" >&2
  return 0
}
