# aem/SWERepair-v0: the bubblewrap sandbox, the Debian rootfs it runs in, and a Docker engine.
# Sourced by scripts/setup_system.sh (which runs with `set -euo pipefail`): nothing here may abort the
# whole setup; a step that cannot run warns, and the tests that need it skip with the reason.
PACKAGES+=(bubblewrap debootstrap docker.io)

# Rootfs location: the same default as aem_envs.paths.cache_dir("swe", "rootfs-bookworm") (the user cache
# directory, platformdirs' rule on Linux); AEM_SWE_ROOTFS or AEM_CACHE_DIR override both.
SWE_ROOTFS="${AEM_SWE_ROOTFS:-${AEM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/aem-gym}/swe/rootfs-bookworm}"
SWE_IMAGE="${AEM_SWE_IMAGE:-aem-swe-base:bookworm}"
# Bump when the package list changes so cached rootfs/images are rebuilt.
SWE_ROOTFS_REV="1 python3 git patch python3-pytest ca-certificates procps coreutils"

_swe_mirror() {
  local uri
  uri=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}')
  echo "${uri:-http://deb.debian.org/debian}"
}

_swe_build_rootfs() {
  if [ -f "$SWE_ROOTFS/.aem-rootfs" ] && [ "$(cat "$SWE_ROOTFS/.aem-rootfs")" = "$SWE_ROOTFS_REV" ]; then
    return 0
  fi
  command -v debootstrap >/dev/null || { echo "swe: debootstrap missing; rootfs not built" >&2; return 1; }
  [ "$(id -u)" = 0 ] || { echo "swe: building the rootfs needs root; run \`make system\` as root" >&2; return 1; }
  local tmp="$SWE_ROOTFS.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$(dirname "$SWE_ROOTFS")"
  echo "swe: building the sandbox rootfs at $SWE_ROOTFS (debootstrap, ~1 min, once)"
  if ! debootstrap --variant=minbase --include=python3,git,patch,python3-pytest,procps \
      bookworm "$tmp" "$(_swe_mirror)" >"$tmp.log" 2>&1; then
    echo "swe: debootstrap failed; see $tmp.log" >&2
    return 1
  fi
  # Mount points bwrap binds over (it cannot create them on a read-only root), and no apt caches.
  mkdir -p "$tmp/testbed" "$tmp/eval"
  rm -rf "$tmp/var/cache/apt/archives/"*.deb "$tmp/var/lib/apt/lists/"*
  echo "$SWE_ROOTFS_REV" >"$tmp/.aem-rootfs"
  rm -rf "$SWE_ROOTFS" "$tmp.log" && mv "$tmp" "$SWE_ROOTFS"
}

_swe_start_dockerd() {
  command -v dockerd >/dev/null || { echo "swe: dockerd missing; Docker runtime tests will skip" >&2; return 1; }
  if timeout 5 docker info >/dev/null 2>&1; then return 0; fi
  [ "$(id -u)" = 0 ] || { echo "swe: starting dockerd needs root" >&2; return 1; }
  # No bridge: containers get loopback only, and nothing touches the host's iptables.
  mkdir -p /var/log
  setsid nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/aem-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 30); do
    timeout 5 docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "swe: dockerd did not answer; see /var/log/aem-dockerd.log" >&2
  return 1
}

_swe_import_image() {
  local want
  want=$(docker image inspect -f '{{index .Config.Labels "aem.rootfs"}}' "$SWE_IMAGE" 2>/dev/null || true)
  [ "$want" = "$SWE_ROOTFS_REV" ] && return 0
  echo "swe: importing $SWE_IMAGE from the rootfs (docker import, no registry)"
  tar -C "$SWE_ROOTFS" -c . | docker import - aem-swe-rootfs:bookworm >/dev/null || return 1
  local ctx
  ctx=$(mktemp -d)
  # tail -f /dev/null ignores SIGTERM: STOPSIGNAL SIGKILL makes `docker stop` instant (docs/install.md).
  printf 'FROM aem-swe-rootfs:bookworm\nSTOPSIGNAL SIGKILL\nLABEL aem.suite=aem-gym aem.rootfs="%s"\nCMD ["tail","-f","/dev/null"]\n' \
    "$SWE_ROOTFS_REV" >"$ctx/Dockerfile"
  docker build -q --network none -t "$SWE_IMAGE" "$ctx" >/dev/null || { rm -rf "$ctx"; return 1; }
  rm -rf "$ctx"
}

post_swe() {
  _swe_build_rootfs || return 0
  if _swe_start_dockerd; then
    _swe_import_image || echo "swe: docker image import failed; Docker runtime tests will skip" >&2
  fi
  return 0
}
