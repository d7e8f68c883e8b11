"""The host side of a bwrap sandbox: which host ids run it, its private state dirs, its size-capped tmpfs.

* **Host ids.** Run as root, sandboxes run as one dedicated unprivileged host uid/gid
  (``AEM_SWE_HOST_UID``/``AEM_SWE_HOST_GID``, default 200000): the user namespace maps the agent's uid to
  that id, never to root, so a setuid file left in the work tree grants nothing on the host. Run as
  anyone else, sandboxes run as that user.
* **State dirs** (``AEM_SWE_STATE``; default ``<tmp>/aem-swe-state``, ``aem-swe-state-<uid>`` when not
  root) are mode 0700 and belong to the sandbox id: no other host user can reach a work tree, and a
  symlink planted in their place is refused.
* **Rootfs.** The sandbox uid must reach the rootfs; as root with the rootfs in a private directory (the
  default user cache dir is under ``/root``), a read-only bind mount of it in the state dir stands in.
* **Quota.** As root each work tree is its own tmpfs (``size=disk_mb``, ``nosuid,nodev``): writes past
  the quota fail with ENOSPC, ``fallocate`` included. Elsewhere the work tree is a plain directory whose
  size is checked while commands run, with ``ulimit -f`` as the per-file cap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import hashlib
import os
import stat
import tempfile
from pathlib import Path

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
MNT_DETACH = 2
INODES = 1 << 18  # files a work tree may hold: each costs kernel memory whatever its size
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def host_ids() -> tuple[int, int]:
    """(uid, gid) that sandboxed processes have on the host."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    env = os.environ
    return int(env.get("AEM_SWE_HOST_UID", "200000")), int(env.get("AEM_SWE_HOST_GID", "200000"))


def private_dir(path: Path, uid: int, gid: int) -> Path:
    """Create ``path`` (or accept it) as a real directory owned by uid:gid, mode 0700."""
    path.mkdir(parents=True, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise RuntimeError(f"{path} is not a directory (a symlink?); refusing to keep sandboxes there")
    if (st.st_uid, st.st_gid) != (uid, gid):
        if os.geteuid() != 0:
            raise RuntimeError(f"{path} belongs to uid {st.st_uid}; set AEM_SWE_STATE to a dir of yours")
        os.chown(path, uid, gid, follow_symlinks=False)
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def state_dir() -> Path:
    name = "aem-swe-state" if os.geteuid() == 0 else f"aem-swe-state-{os.geteuid()}"
    d = Path(os.environ.get("AEM_SWE_STATE") or Path(tempfile.gettempdir()) / name)
    return private_dir(d, *host_ids())


def chown_tree(root: Path, uid: int, gid: int) -> None:
    if os.geteuid() != 0:
        return
    os.chown(root, uid, gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def mount_tmpfs(target: Path, size_mb: int, uid: int, gid: int) -> bool:
    """Mount a size-capped tmpfs on ``target``; False when this process may not mount (not root)."""
    if os.geteuid() != 0:
        return False
    opts = f"size={size_mb}m,nr_inodes={INODES},mode=0700,uid={uid},gid={gid}".encode()
    if _libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts) != 0:
        return False
    return True


def umount(target: Path) -> None:
    _libc.umount2(str(target).encode(), MNT_DETACH)


def is_mount(target: Path) -> bool:
    try:
        return os.path.ismount(target)
    except OSError:
        return False


def usage_bytes(root: Path, mounted: bool) -> int:
    """Bytes the work tree occupies (allocated blocks: what a quota counts)."""
    if mounted:
        st = os.statvfs(root)
        return (st.f_blocks - st.f_bfree) * st.f_frsize
    total = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


def reachable_by_others(path: Path) -> bool:
    """True if every ancestor of ``path`` can be traversed by any user (a sandbox uid must reach it)."""
    p = path.resolve()
    for d in [p, *p.parents]:
        try:
            if not os.stat(d).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def reachable_rootfs(rootfs: Path) -> Path:
    """``rootfs`` at a path the sandbox's host uid can reach (``reachable_readonly``)."""
    return reachable_readonly(rootfs, "rootfs")


def reachable_readonly(path: Path, kind: str = "ro") -> Path:
    """``path`` where the sandbox's host uid can reach it, for a read-only mount into the sandbox (the
    rootfs, a task's test environment). As root with ``path`` under a private directory (the default user
    cache dir is under ``/root``, mode 0700), that is a read-only ``nosuid,nodev`` bind mount of it in the
    state dir, made once and shared by every sandbox."""
    rootfs = path.resolve()
    if os.geteuid() != 0 or reachable_by_others(rootfs):
        return rootfs
    state = state_dir()
    target = state / f"{kind}-{hashlib.sha1(str(rootfs).encode()).hexdigest()[:12]}"
    with open(state / ".rootfs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_mount(target):
            target.mkdir(exist_ok=True)
            flags = MS_BIND | MS_REC
            if _libc.mount(str(rootfs).encode(), str(target).encode(), None, flags, None) != 0:
                raise OSError(ctypes.get_errno(), f"cannot bind-mount {rootfs} on {target}")
            ro = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
            if _libc.mount(None, str(target).encode(), None, ro, None) != 0:
                umount(target)
                raise OSError(ctypes.get_errno(), f"cannot make the bind mount {target} read-only")
    return target


def _safe_parent(root: Path, rel: str) -> Path | None:
    """The parent dir of ``rel`` under ``root``, created as needed, or None if the path is not plain
    (absolute, ``..``, or through a symlink or a non-directory)."""
    from aem_envs.swe.sandbox.base import plain_relpath

    if not plain_relpath(rel):
        return None
    parts = rel.split("/")
    cur = root
    for p in parts[:-1]:
        cur = cur / p
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            cur.mkdir()
            continue
        if not stat.S_ISDIR(st.st_mode):
            return None
    return cur


def apply_overlay(root: Path, overlay) -> list[str]:
    """Write (bytes) or delete (None) files under ``root`` without following links; returns the paths
    refused (not plain paths)."""
    refused = []
    for rel, data in overlay.items():
        parent = _safe_parent(root, rel)
        if parent is None:
            refused.append(rel)
            continue
        target = parent / rel.rsplit("/", 1)[-1]
        if os.path.islink(target) or os.path.isfile(target):
            os.unlink(target)
        elif os.path.isdir(target) and data is not None and not os.listdir(target):
            os.rmdir(target)  # emptied by the overlay's deletions: a package turned into a module
        elif os.path.lexists(target):  # a directory with files, or a special file: not ours to replace
            refused.append(rel)
            continue
        if data is not None:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
    return refused
