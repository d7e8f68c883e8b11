"""The daemon-less runtime: every command is one ``bwrap`` process over a cached Debian rootfs.

Isolation per command (docs/swe-grader.md): bwrap starts with an **empty environment** as the
unprivileged host id of ``hostfs.host_ids`` (never root), in new user/pid/net/ipc/uts/mount namespaces
(no network: a private loopback only; no further user namespaces), all capabilities dropped, the agent's
uid mapped to that host id. The root is the read-only rootfs; ``/dev`` is bwrap's private minimal one;
``/tmp`` a private size-capped tmpfs; ``/testbed`` (``nosuid,nodev``) the only writable host path, a
size-capped tmpfs of its own when run as root (``hostfs``). Memory and process count are capped by a
cgroup v1 per sandbox; wall clock, output size and disk use by the reader loop, which SIGKILLs the whole
cgroup when one runs out. The command text arrives on stdin (``command``).
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from aem_envs.paths import cache_dir
from aem_envs.swe.sandbox import command, hostfs, reaper, snapshot
from aem_envs.swe.sandbox.base import (
    SANDBOX_ENV,
    WORKDIR,
    ExecResult,
    OverlayError,
    Sandbox,
    SandboxError,
    SandboxSpec,
    Snapshot,
    classify,
)

ROOTFS_MARK = ".aem-rootfs"
SETUP_HINT = ("run `make system` (as root: installs bubblewrap and builds the rootfs with debootstrap, "
              "~1 min once)")
TMP_MB = 256
# Dead-man switch inside the sandbox: fd {fd} is the read end of a pipe whose write end only this
# process holds. If we die (even by SIGKILL) the read sees EOF and everything in the sandbox's pid
# namespace is killed; --die-with-parent alone did not always take the namespace's processes down.
_WATCH = ('( exec 0</dev/null; read -r -u {fd} _; [ "$AEM_SANDBOX" = 1 ] && kill -KILL -1 ) '
          '>/dev/null 2>&1 & exec {fd}<&-\n')
# Attach this shell to the sandbox's cgroups (as root), then become the rest of argv.
_CG_ATTACH = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


def rootfs_path() -> Path:
    env = os.environ.get("AEM_SWE_ROOTFS")
    if env:
        return Path(env)
    return cache_dir("swe", "rootfs-bookworm")


def cgroups_available() -> bool:
    return all(os.access(reaper.CGROUP_ROOT / c, os.W_OK) for c in ("memory", "pids"))


class BwrapSandbox(Sandbox):
    @classmethod
    def status(cls) -> str | None:
        if shutil.which("bwrap") is None:
            return f"bubblewrap (bwrap) is not installed; {SETUP_HINT}"
        root = rootfs_path()
        if not (root / ROOTFS_MARK).is_file():
            return f"no sandbox rootfs at {root} (or set AEM_SWE_ROOTFS); {SETUP_HINT}"
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                return "setpriv (util-linux) is missing: root cannot drop to the sandbox's host uid"
        return None

    def __init__(self, spec: SandboxSpec):
        super().__init__(spec)
        if spec.source_dir is None:
            raise SandboxError("the bwrap runtime needs a source directory (images are docker-only)")
        reaper.reap_once("bwrap", reaper.reap_bwrap)
        try:
            self.rootfs = hostfs.reachable_rootfs(rootfs_path())
            self.ro_binds = [(hostfs.reachable_readonly(Path(h)), inside) for h, inside in spec.ro_binds]
        except OSError as e:
            raise SandboxError(f"the sandbox uid cannot reach the rootfs or a read-only mount: {e}; "
                               "set AEM_SWE_ROOTFS") from e
        self._bwrap, self._setpriv = shutil.which("bwrap"), shutil.which("setpriv")
        self.host_uid, self.host_gid = hostfs.host_ids()
        self.root = reaper.state_dir() / self.run_id
        self.root.mkdir(mode=0o700)
        hostfs.private_dir(self.root, self.host_uid, self.host_gid)
        (self.root / "owner").write_text(reaper.owner_token())
        reaper.track(self)
        self.work = self.root / "testbed"
        self.work.mkdir(mode=0o700)
        self.mounted = hostfs.mount_tmpfs(self.work, self.limits.disk_mb, self.host_uid, self.host_gid)
        try:
            shutil.copytree(spec.source_dir, self.work, symlinks=True, dirs_exist_ok=True)
            try:
                refused = hostfs.apply_overlay(self.work, spec.overlay)
            except OSError as e:  # e.g. the quota: the agent's files do not fit
                raise OverlayError(f"cannot write the changed files into the work tree: {e}") from e
            if refused:
                raise OverlayError(f"cannot write {', '.join(refused[:5])} into the work tree (not a plain "
                                   "path below /testbed, or a directory is in the way)")
            os.chmod(self.work, 0o755)
            hostfs.chown_tree(self.work, self.host_uid, self.host_gid)
        except OverlayError:
            self.close()
            raise
        except OSError as e:
            self.close()
            raise SandboxError(f"could not prepare the work tree: {e}") from e
        self.baseline = snapshot.baseline(str(self.work))
        self.cgroups = self._make_cgroups()
        self.limits_enforced = bool(self.cgroups)
        self._lock = threading.Lock()

    def _make_cgroups(self) -> list[Path]:
        if not cgroups_available():
            return []
        dirs = reaper.cgroup_dirs(self.run_id)
        try:
            for d in dirs:
                d.mkdir(parents=True, exist_ok=True)
            mem = self.limits.memory_mb << 20
            (dirs[0] / "memory.limit_in_bytes").write_text(str(mem))
            swap = dirs[0] / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(mem))
            (dirs[1] / "pids.max").write_text(str(self.limits.pids))
        except OSError:
            reaper.kill_cgroups(dirs)
            return []
        return dirs

    def _argv(self, cwd: str, life_fd: int) -> list[str]:
        uid = self.limits.uid or 0
        gid = self.limits.gid if self.limits.gid is not None else uid
        argv = ["/usr/bin/env", "-i", self._bwrap, "--ro-bind", str(self.rootfs), "/",
                "--dev", "/dev", "--proc", "/proc", "--size", str(TMP_MB << 20), "--tmpfs", "/tmp",
                "--bind", str(self.work), WORKDIR, "--unshare-all", "--die-with-parent", "--new-session",
                "--unshare-user", "--uid", str(uid), "--gid", str(gid), "--disable-userns",
                "--cap-drop", "ALL", "--clearenv"]
        for host, inside in self.ro_binds:
            argv += ["--ro-bind", str(host), inside]
        for k, v in SANDBOX_ENV.items():
            argv += ["--setenv", k, v]
        argv += ["--chdir", cwd, *command.argv(self.limits.disk_mb, _WATCH.format(fd=life_fd))]
        if os.geteuid() == 0:
            argv = [self._setpriv, f"--reuid={self.host_uid}", f"--regid={self.host_gid}",
                    "--clear-groups", "--", *argv]
        if self.cgroups:
            procs = [str(d / "cgroup.procs") for d in self.cgroups]
            argv = ["/bin/sh", "-c", _CG_ATTACH, "sh", *procs, "--", *argv]
        return argv

    def exec(self, command_text: str, *, timeout: float | None = None, stdin: bytes | None = None,
             cwd: str = WORKDIR) -> ExecResult:
        if self.closed:
            raise SandboxError("sandbox is closed")
        timeout = self.limits.timeout_s if timeout is None else timeout
        data = command.frame(command_text, stdin)
        with self._lock:  # one command at a time: the work tree is shared
            try:
                return self._run(data, timeout, cwd)
            except OSError as e:
                raise SandboxError(f"bwrap could not run: {e}") from e

    def _run(self, data: bytes, timeout: float, cwd: str) -> ExecResult:
        t0 = time.monotonic()
        oom0, used0 = self._oom_kills(), hostfs.usage_bytes(self.work, self.mounted)
        life_r, life_w = os.pipe()
        try:
            proc = subprocess.Popen(self._argv(cwd, life_r), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True, pass_fds=(life_r,),
                                    env={}, cwd="/")
        finally:
            os.close(life_r)
        try:
            threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True).start()
            return self._collect(proc, t0, timeout, oom0, used0)
        finally:
            os.close(life_w)

    def _collect(self, proc: subprocess.Popen, t0: float, timeout: float, oom0: int,
                 used0: int) -> ExecResult:
        chunks, size, cap = [], 0, self.limits.max_output_bytes
        timed_out = truncated = over = False
        quota, next_check = self.limits.disk_mb << 20, t0 + 1.0
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = t0 + timeout
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    timed_out = True
                    break
                if not self.mounted and now >= next_check:  # no tmpfs quota: check the size as it grows
                    next_check = now + 1.0
                    used = hostfs.usage_bytes(self.work, False)
                    if used > quota and used > used0:
                        over = True
                        break
                if not sel.select(min(deadline - now, 0.5)):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > cap:
                    truncated = True
                    break
        finally:
            sel.close()
            if timed_out or truncated or over:
                self._kill(proc)
            try:
                rc = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill(proc)
                rc = proc.wait()
            proc.stdout.close()
        used = hostfs.usage_bytes(self.work, self.mounted)
        over = over or (used > used0 and used >= quota - (64 << 10))
        rc, reason = classify(rc, timed_out=timed_out, oom=self._oom_kills() > oom0, truncated=truncated,
                              over_quota=over)
        out = b"".join(chunks)[:cap].decode("utf-8", errors="replace")
        return ExecResult(rc, out, timed_out, time.monotonic() - t0, truncated, reason, timeout)

    def _oom_kills(self) -> int:
        if not self.cgroups:
            return 0
        try:
            text = (self.cgroups[0] / "memory.oom_control").read_text()
        except OSError:
            return 0
        return next((int(ln.split()[1]) for ln in text.splitlines() if ln.startswith("oom_kill ")), 0)

    def _kill(self, proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # bwrap itself; its pid 1 dies with it
        except OSError:
            pass
        # And anything that escaped into another session, until the cgroups are empty (a fork bomb's
        # dying processes would otherwise still hold the pids limit when the next command starts).
        until = time.monotonic() + 5
        while self.cgroups and time.monotonic() < until:
            left = 0
            for d in self.cgroups:
                try:
                    for pid in (d / "cgroup.procs").read_text().split():
                        left += 1
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            if not left:
                break
            time.sleep(0.01)

    def snapshot(self, max_file_bytes: int = 8 << 20, max_total_bytes: int = 64 << 20) -> Snapshot:
        # Host-side walk: safe because no sandboxed process runs between commands (the pid namespace dies
        # with each command), and links are recorded, never followed.
        if self.closed:
            raise SandboxError("sandbox is closed")
        with self._lock:
            records = snapshot.scan(str(self.work), self.baseline, max_file_bytes, max_total_bytes)
            return snapshot.collect(records, max_total_bytes)

    def _close(self) -> None:
        reaper.kill_cgroups(getattr(self, "cgroups", []))
        reaper.remove_state(self.root)


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
