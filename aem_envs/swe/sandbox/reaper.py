"""Nothing outlives the episode: ownership records, and a reaper run at start-up and at exit.

Every bwrap sandbox keeps its state in ``state_dir()/<run_id>/`` with an ``owner`` file naming the
creating process (pid and kernel start time, so a recycled pid is not mistaken for the owner); every
Docker container carries the labels ``aem.suite``, ``aem.owner`` and ``aem.boot`` (its reaper lives in
``docker.py``). The first sandbox of each runtime a process creates runs that runtime's reaper
(``reap_once``), which removes what SIGKILLed processes left; ``atexit`` closes this process's own
sandboxes. bwrap's ``--die-with-parent`` kills sandboxed processes the moment their owner dies; Docker
containers stop by themselves when their owner's attach socket closes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

from aem_envs.swe.sandbox import hostfs

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "aem-swe"
_lock = threading.Lock()
_live: weakref.WeakSet = weakref.WeakSet()
_reaped: set[str] = set()
state_dir = hostfs.state_dir


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name


def owner_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{_start_time(pid)}"


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def owner_alive(token: str) -> bool:
    pid, _, start = token.partition(":")
    try:
        return _start_time(int(pid)) == start
    except ValueError:
        return False


def cgroup_dirs(run_id: str) -> list[Path]:
    return [CGROUP_ROOT / c / CGROUP_PARENT / run_id for c in ("memory", "pids")]


def kill_cgroups(dirs: list[Path]) -> None:
    """SIGKILL every process in the cgroups, then remove them (twice: a fork may race the first pass)."""
    for _ in range(2):
        for d in dirs:
            try:
                pids = [int(p) for p in (d / "cgroup.procs").read_text().split()]
            except OSError:
                continue
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    for d in dirs:
        for _ in range(50):
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # busy until the killed processes are reaped
                threading.Event().wait(0.02)


def remove_state(run_dir: Path) -> None:
    """Unmount (the work tree may be its own tmpfs) and delete one sandbox's state dir."""
    work = run_dir / "testbed"
    if hostfs.is_mount(work):
        hostfs.umount(work)
    shutil.rmtree(run_dir, ignore_errors=True)


def reap_bwrap() -> list[str]:
    """Remove the state dirs, mounts and cgroups of bwrap sandboxes whose owner is dead; their run ids."""
    gone = []
    for d in sorted(state_dir().iterdir()):
        try:
            token = (d / "owner").read_text().strip()
        except OSError:
            continue
        if owner_alive(token):
            continue
        kill_cgroups(cgroup_dirs(d.name))
        remove_state(d)
        gone.append(d.name)
    return gone


def reap_once(runtime: str, reap: Callable[[], object]) -> None:
    """Run ``reap`` the first time this process creates a sandbox of ``runtime``."""
    with _lock:
        if runtime in _reaped:
            return
        _reaped.add(runtime)
    try:
        reap()
    except Exception:  # reaping is hygiene: it must never stop a sandbox from starting
        pass


def track(sandbox) -> None:
    _live.add(sandbox)


@atexit.register
def _close_all() -> None:
    for sb in list(_live):
        try:
            sb.close()
        except Exception:
            pass
