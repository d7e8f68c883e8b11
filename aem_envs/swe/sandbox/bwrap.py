"""The daemon-less runtime: every command is one ``bwrap`` process over a cached Debian rootfs.

Isolation per command (../shared/docs/machines.md §2): read-only root (the rootfs), ``/testbed`` the only
writable host path, a private ``/tmp``, new user/pid/net/ipc/uts namespaces (no network: only a private
loopback), all capabilities dropped, uid 1000 unless ``Limits.uid`` is None, ``--die-with-parent`` so
nothing outlives its owner. Memory and process count are capped by a cgroup v1 per sandbox; wall clock
and output size by the reader loop, which SIGKILLs the whole cgroup when either runs out.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

from aem_envs.paths import cache_dir
from aem_envs.swe.sandbox import reaper
from aem_envs.swe.sandbox.base import (
    WORKDIR,
    ExecResult,
    Sandbox,
    SandboxError,
    SandboxSpec,
    Snapshot,
    excluded,
    register_runtime,
)

ROOTFS_MARK = ".aem-rootfs"
SETUP_HINT = "run `make system` (as root: installs bubblewrap and builds the rootfs with debootstrap, ~1 min once)"
SANDBOX_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/tmp", "LANG": "C.UTF-8", "TZ": "UTC", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
    "GIT_CONFIG_NOSYSTEM": "1", "TERM": "dumb", "PAGER": "cat", "GIT_PAGER": "cat",
}
# Dead-man switch inside the sandbox: fd 9 is the read end of a pipe whose write end only this process
# holds. If we die (even by SIGKILL) the read sees EOF and everything in the sandbox's pid namespace is
# killed; --die-with-parent alone did not always take the namespace's processes down.
_WATCH = "( exec 0</dev/null; read -r -u 9 _; kill -KILL -1 ) >/dev/null 2>&1 & exec 9<&-\n"
# Attach the shell to the sandbox's cgroups, then become bwrap (so bwrap's parent is still us).
_CG_ATTACH = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


def rootfs_path() -> Path:
    env = os.environ.get("AEM_SWE_ROOTFS")
    if env:
        return Path(env)
    return cache_dir("swe", "rootfs-bookworm")


def status() -> str | None:
    if shutil.which("bwrap") is None:
        return f"bubblewrap (bwrap) is not installed; {SETUP_HINT}"
    root = rootfs_path()
    if not (root / ROOTFS_MARK).is_file():
        return f"no sandbox rootfs at {root} (or set AEM_SWE_ROOTFS); {SETUP_HINT}"
    return None


def cgroups_available() -> bool:
    return all(os.access(reaper.CGROUP_ROOT / c, os.W_OK) for c in ("memory", "pids"))


@register_runtime("bwrap", status)
class BwrapSandbox(Sandbox):
    def __init__(self, spec: SandboxSpec):
        super().__init__(spec)
        if spec.source_dir is None:
            raise SandboxError("the bwrap runtime needs a source directory (images are docker-only)")
        reaper.reap_once()
        self.rootfs = rootfs_path()
        self.root = reaper.state_dir() / self.run_id
        self.root.mkdir(parents=True)
        (self.root / "owner").write_text(reaper.owner_token())
        self.work = self.root / "testbed"
        shutil.copytree(spec.source_dir, self.work, symlinks=True)
        self.cgroups: list[Path] = []
        if cgroups_available():
            self.cgroups = reaper.cgroup_dirs(self.run_id)
            try:
                for d in self.cgroups:
                    d.mkdir(parents=True, exist_ok=True)
                mem = self.limits.memory_mb << 20
                (self.cgroups[0] / "memory.limit_in_bytes").write_text(str(mem))
                swap = self.cgroups[0] / "memory.memsw.limit_in_bytes"
                if swap.exists():
                    swap.write_text(str(mem))
                (self.cgroups[1] / "pids.max").write_text(str(self.limits.pids))
            except OSError:
                reaper.kill_cgroups(self.cgroups)
                self.cgroups = []
        self.limits_enforced = bool(self.cgroups)
        self._lock = threading.Lock()
        reaper.track(self)

    def _argv(self, command: str, cwd: str) -> list[str]:
        argv = ["bwrap", "--ro-bind", str(self.rootfs), "/", "--dev", "/dev", "--proc", "/proc",
                "--tmpfs", "/tmp", "--bind", str(self.work), WORKDIR, "--unshare-all", "--die-with-parent",
                "--new-session", "--clearenv"]
        for k, v in SANDBOX_ENV.items():
            argv += ["--setenv", k, v]
        if self.limits.uid is not None:
            argv += ["--unshare-user", "--uid", str(self.limits.uid), "--gid", str(self.limits.uid)]
        argv += ["--cap-drop", "ALL", "--chdir", cwd, "bash", "-c", _WATCH + command]
        if self.cgroups:
            argv = ["/bin/sh", "-c", _CG_ATTACH, "sh", *[str(d / "cgroup.procs") for d in self.cgroups], "--",
                    *argv]
        return argv

    def exec(self, command: str, *, timeout: float | None = None, stdin: bytes | None = None,
             cwd: str = WORKDIR) -> ExecResult:
        if self.closed:
            raise SandboxError("sandbox is closed")
        timeout = self.limits.timeout_s if timeout is None else timeout
        with self._lock:  # one command at a time: the work tree is shared
            return self._run(self._argv(command, cwd), timeout, stdin)

    def _run(self, argv: list[str], timeout: float, stdin: bytes | None) -> ExecResult:
        t0 = time.monotonic()
        life_r, life_w = os.pipe()
        try:
            proc = subprocess.Popen(
                ["/bin/bash", "-c", f'exec 9<&{life_r} {life_r}<&- && exec "$@"', "sh", *argv],
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True, pass_fds=(life_r,))
        finally:
            os.close(life_r)
        try:
            return self._collect(proc, t0, timeout, stdin)
        finally:
            os.close(life_w)

    def _collect(self, proc: subprocess.Popen, t0: float, timeout: float, stdin: bytes | None) -> ExecResult:
        if stdin is not None:
            threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
        chunks, size, cap = [], 0, self.limits.max_output_bytes
        timed_out = truncated = False
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = t0 + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                if not sel.select(min(left, 0.5)):
                    continue
                data = os.read(proc.stdout.fileno(), 65536)
                if not data:
                    break
                chunks.append(data)
                size += len(data)
                if size > cap:
                    truncated = True
                    break
        finally:
            sel.close()
            if timed_out or truncated:
                self._kill(proc)
            try:
                rc = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill(proc)
                rc = proc.wait()
            proc.stdout.close()
        out = b"".join(chunks)[:cap].decode("utf-8", errors="replace")
        if timed_out:
            rc = 124 if rc in (0, None) or rc < 0 else rc
        elif rc < 0:  # killed by a signal (e.g. the OOM killer): report it like a shell would
            rc = 128 - rc
        return ExecResult(rc, out, timed_out, time.monotonic() - t0, truncated)

    def _kill(self, proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # bwrap itself; its pid 1 dies with it
        except OSError:
            pass
        if self.cgroups:  # and anything that escaped into another session
            for d in self.cgroups:
                try:
                    for pid in (d / "cgroup.procs").read_text().split():
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass

    def snapshot(self, max_file_bytes: int = 8 << 20) -> Snapshot:
        # Host-side walk: safe because no sandboxed process runs between commands (the pid namespace dies
        # with each command), and links are recorded, never followed.
        snap = Snapshot()
        base = str(self.work)
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            rel_dir = os.path.relpath(dirpath, base)
            keep = []
            for name in sorted(dirnames):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                full = os.path.join(dirpath, name)
                if os.path.islink(full):
                    snap.symlinks[rel] = os.readlink(full)
                elif not excluded(rel):
                    keep.append(name)
            dirnames[:] = keep
            for name in sorted(filenames):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if excluded(rel):
                    continue
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    snap.symlinks[rel] = os.readlink(full)
                elif not stat.S_ISREG(st.st_mode) or st.st_size > max_file_bytes:
                    snap.skipped.append(rel)
                else:
                    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
                    with os.fdopen(fd, "rb") as f:
                        snap.files[rel] = f.read()
        return snap

    def _close(self) -> None:
        reaper.kill_cgroups(self.cgroups)
        shutil.rmtree(self.root, ignore_errors=True)


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
    except OSError:
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass
