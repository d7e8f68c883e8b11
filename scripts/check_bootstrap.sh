#!/usr/bin/env bash
# Says, one line each, what a failed `make` bootstrap is missing and how to get it. Never fails itself.
cd "$(dirname "$0")/.." || exit 0
ok=1
say() { echo "bootstrap: $*"; ok=0; }
command -v python3.11 >/dev/null 2>&1 || python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || say "CPython 3.11 is needed (uv.lock pins the environment for it): install python3.11 or set UV_PYTHON"
torch_wheel=$(sed -n 's|^torch = { path = "\(\.wheels/[^"]*\)" }.*|\1|p' pyproject.toml | head -1)
if [ -n "$torch_wheel" ] && [ ! -e "$torch_wheel" ]; then
  say "the CPU torch wheel the locks pin is not at $torch_wheel: download $(basename "$torch_wheel") from" \
      "https://download.pytorch.org/whl/cpu/torch/ into .wheels/, or set TORCH_WHEEL_DIR to its folder"
fi
python3 - <<'PY' 2>/dev/null || say "pypi.org does not answer: the bootstrap downloads the locked wheels from PyPI (or uv's cache)"
import urllib.request; urllib.request.urlopen("https://pypi.org/simple/uv/", timeout=10)
PY
command -v gcc >/dev/null 2>&1 || say "gcc is missing (the household extra builds Fast Downward): apt-get install build-essential"
command -v cmake >/dev/null 2>&1 || say "cmake is missing (the household extra builds Fast Downward): apt-get install cmake"
[ "$ok" = 1 ] && echo "bootstrap: no missing piece found; read uv's message above"
exit 0
