#!/usr/bin/env bash
# Says, one line each, what a failed `make` bootstrap is missing and how to get it. Never fails itself.
cd "$(dirname "$0")/.." || exit 0
ok=1
say() { echo "bootstrap: $*"; ok=0; }
command -v python3.11 >/dev/null 2>&1 || python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || say "CPython 3.11 is needed (uv.lock pins the environment for it): install python3.11 or set UV_PYTHON"
torch_wheel=$(sed -n 's/^source = { path = "\([^"]*torch-[^"]*\.whl\)" }$/\1/p' uv.lock | head -1)
if [ -n "$torch_wheel" ] && [ ! -f "$torch_wheel" ]; then
  say "the CPU torch wheel uv.lock pins is not at $torch_wheel; put it there, or point" \
      "[tool.uv.sources] torch in pyproject.toml at a copy of it and run \`make lock\`"
fi
python3 - <<'PY' 2>/dev/null || say "pypi.org does not answer: the bootstrap downloads the locked wheels from PyPI (or uv's cache)"
import urllib.request; urllib.request.urlopen("https://pypi.org/simple/uv/", timeout=10)
PY
command -v gcc >/dev/null 2>&1 || say "gcc is missing (the household extra builds Fast Downward): apt-get install build-essential"
command -v cmake >/dev/null 2>&1 || say "cmake is missing (the household extra builds Fast Downward): apt-get install cmake"
[ "$ok" = 1 ] && echo "bootstrap: no missing piece found; read uv's message above"
exit 0
