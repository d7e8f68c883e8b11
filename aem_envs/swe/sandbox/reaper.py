"""Nothing outlives the episode: ownership records, and a reaper run at start-up and at exit.

Every bwrap sandbox keeps its state in ``state_dir()/<run_id>/`` with an ``owner`` file naming the
creating process (pid and kernel start time, so a recycled pid is not mistaken for the owner); every
Docker container carries the labels ``aem.suite``, ``aem.owner`` and ``aem.boot``. ``reap()`` removes
what belongs to a process that no longer runs: the first sandbox a process creates reaps what an earlier
SIGKILLed process left, and ``atexit`` closes this process's own sandboxes. bwrap's own
``--die-with-parent`` kills sandboxed processes the moment their owner dies; Docker containers stop by
themselves when their owner's attach socket closes (see ``docker.py``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
import threading
import weakref
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "aem-swe"
_lock = threading.Lock()
_live: weakref.WeakSet = weakref.WeakSet()
_reaped = False


def state_dir() -> Path:
    d = Path(os.environ.get("AEM_SWE_STATE") or Path(tempfile.gettempdir()) / "aem-swe")
    d.mkdir(parents=True, exist_ok=True)
    return d


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


def reap_bwrap() -> list[str]:
    """Remove the state dirs and cgroups of bwrap sandboxes whose owner is dead; returns their run ids."""
    gone = []
    for d in sorted(state_dir().iterdir()):
        owner = d / "owner"
        try:
            token = owner.read_text().strip()
        except OSError:
            continue
        if owner_alive(token):
            continue
        kill_cgroups(cgroup_dirs(d.name))
        shutil.rmtree(d, ignore_errors=True)
        gone.append(d.name)
    return gone


def reap_docker(client=None) -> list[str]:
    """Remove our containers (by label) whose owner process is dead; returns their names."""
    from aem_envs.swe.sandbox.docker import docker_client

    client = client or docker_client()
    if client is None:
        return []
    gone = []
    for c in client.containers.list(all=True, filters={"label": "aem.suite=aem-gym"}):
        labels = c.labels or {}
        if labels.get("aem.boot") == boot_id() and owner_alive(labels.get("aem.owner", "")):
            continue
        try:
            c.remove(force=True)
            gone.append(c.name)
        except Exception:  # already gone (auto-remove raced us)
            pass
    return gone


def reap_once() -> None:
    """Run the start-up reap the first time a process creates a sandbox."""
    global _reaped
    with _lock:
        if _reaped:
            return
        _reaped = True
    reap_bwrap()


def track(sandbox) -> None:
    _live.add(sandbox)


@atexit.register
def _close_all() -> None:
    for sb in list(_live):
        try:
            sb.close()
        except Exception:
            pass
