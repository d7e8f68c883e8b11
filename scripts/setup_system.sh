#!/usr/bin/env bash
# Installs (and where needed starts) the system packages the test suite uses. Idempotent and quiet when
# everything is already there. Without root or apt-get it only reports what is missing; the tests that
# need a missing piece then skip with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=()   # Debian packages, added by the env families that need them (see scripts/system.d/)
for f in scripts/system.d/*.sh; do
  [ -e "$f" ] || continue
  # shellcheck disable=SC1090
  source "$f"
done

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing system packages (need root + apt-get): ${missing[*]}; their tests will skip" >&2
  fi
fi

# Post-install hooks (start a daemon, build a rootfs) defined by the sourced files as post_<name> functions.
for fn in $(compgen -A function | grep '^post_' || true); do
  "$fn"
done
