"""The Docker runtime: one container per sandbox, through the docker SDK against a local engine.

* Images never come from a registry: our repos run in ``aem-swe-base:bookworm`` (``make system``
  imports it from the same debootstrap rootfs bwrap uses) with their work tree copied in; SWE-bench
  rows name their harness image, which must be loaded locally; a missing image is a clear error.
* Containers (docs/swe-grader.md): labelled (suite, run id, instance id, owner, boot id), no network,
  commands as a non-root uid **and** gid, ``no-new-privileges``, every capability dropped, memory
  (no swap), pids and core limits, auto-removed. For our repos the root filesystem is read-only and
  ``/testbed`` is a tmpfs of ``disk_mb`` (``nosuid,nodev``): the quota holds on any storage driver.
  Harness images keep their writable ``/testbed`` layer; its size is checked after every command.
* Dead-man switch: the container's main process (under the engine's init, which reaps what commands
  orphan) is ``cat`` reading the stdin this process holds open
  through an attach socket. If this process dies, even by SIGKILL, the socket closes, ``cat`` ends and
  the container is removed; ``docker_io.reap_docker`` (run by the first sandbox of each process)
  removes whatever a dead owner left in any state.
* Commands: ``docker_io.run_exec`` (stdin-framed, deadline, cap; the wrapper of ``command`` kills what
  a command left behind). The exit code and reason follow ``base.classify``, as on bwrap; an OOM kill
  is read from the container's memory cgroup.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import tarfile
import threading
import time
from functools import lru_cache
from pathlib import Path

from docker.types import Mount

from aem_envs.swe.sandbox import command, docker_io, reaper, snapshot
from aem_envs.swe.sandbox.base import (
    SANDBOX_ENV,
    SUITE_LABEL,
    WORKDIR,
    ExecResult,
    OverlayError,
    Sandbox,
    SandboxError,
    SandboxSpec,
    Snapshot,
    classify,
    plain_relpath,
)
from aem_envs.swe.sandbox.docker_io import docker_client, reap_docker, run_exec

__all__ = ["BASE_IMAGE", "DockerSandbox", "docker_client", "reap_docker"]
BASE_IMAGE = os.environ.get("AEM_SWE_IMAGE", "aem-swe-base:bookworm")
TMP_MB = 256
INODES = 1 << 18  # files a tmpfs may hold: each costs kernel memory whatever its size
_KEEPER = "65534:65534"  # the dead-man process's user: no command (not even uid 0 without caps) can kill it
_starts = threading.BoundedSemaphore(int(os.environ.get("AEM_SWE_DOCKER_STARTS", "4")))
_SNAPSHOT_PY = Path(snapshot.__file__).read_text()


def _tmpfs(size_mb: int, extra: str = "mode=1777") -> str:
    return f"size={size_mb}m,nr_inodes={INODES},{extra},exec,nosuid,nodev"


@lru_cache(maxsize=64)
def _source_baseline(root: str, stamp: int) -> dict[str, str]:
    return snapshot.baseline(root)


def _tree_tar(src: Path | None, overlay) -> bytes:
    """A tar of ``src`` (paths relative to /testbed) with ``overlay`` applied: files replaced or added,
    None deleted."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if src is not None:
            for dirpath, dirnames, filenames in os.walk(src):
                dirnames.sort()
                for name in sorted(dirnames) + sorted(filenames):
                    full = os.path.join(dirpath, name)
                    rel = os.path.relpath(full, src)
                    if rel not in overlay:
                        tar.add(full, arcname=rel, recursive=False)
        for rel, data in overlay.items():
            if data is not None:
                info = tarfile.TarInfo(rel)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _remove(api, container: str) -> None:
    try:
        api.remove_container(container, force=True)
    except Exception:
        pass  # auto-removed already


class DockerSandbox(Sandbox):
    @classmethod
    def status(cls) -> str | None:
        c = docker_client()
        if c is None:
            return (f"no Docker daemon answers ({docker_io.client_error[:200]}); run `make "
                    "system` as root (installs docker.io and starts dockerd without a bridge network) or set "
                    "DOCKER_HOST")
        try:
            c.images.get(BASE_IMAGE)
        except Exception:
            return f"Docker image {BASE_IMAGE} is missing; `make system` imports it from the sandbox rootfs"
        return None

    def __init__(self, spec: SandboxSpec):
        super().__init__(spec)
        self.id = ""
        self.client = docker_client()
        if self.client is None:
            raise SandboxError(self.status() or "no Docker daemon")
        self.image = spec.image or BASE_IMAGE
        try:
            self.client.images.get(self.image)
        except Exception:
            raise SandboxError(f"Docker image {self.image!r} is not present locally; load it first "
                               "(`docker load`), images are never pulled") from None
        if any(not plain_relpath(p) for p in spec.overlay):
            raise SandboxError("overlay paths must be plain relative paths")
        reaper.reap_once("docker", lambda: reap_docker(self.client))
        uid = self.limits.uid or 0
        gid = self.limits.gid if self.limits.gid is not None else uid
        self.user, self.ids = f"{uid}:{gid}", (uid, gid)
        self.own_tree = spec.source_dir is not None
        self._lock = threading.Lock()
        try:
            self._start()
            self._populate()
        except Exception as e:
            self.close()
            if isinstance(e, SandboxError):
                raise
            raise SandboxError(f"could not start the container: {e}") from e

    # -- life cycle --------------------------------------------------------------------------------
    def _start(self) -> None:
        api, lim = self.client.api, self.limits
        tmpfs = {"/tmp": _tmpfs(TMP_MB), "/var/tmp": _tmpfs(TMP_MB)}
        if self.own_tree:
            tmpfs[WORKDIR] = _tmpfs(lim.disk_mb, f"mode=0755,uid={self.ids[0]},gid={self.ids[1]}")
        host_config = api.create_host_config(
            network_mode="none", mem_limit=f"{lim.memory_mb}m", memswap_limit=f"{lim.memory_mb}m",
            pids_limit=lim.pids, cap_drop=["ALL"], security_opt=["no-new-privileges"],
            read_only=self.own_tree,
            tmpfs=tmpfs, auto_remove=True, init=True, ulimits=[{"Name": "core", "Soft": 0, "Hard": 0}],
            mounts=[Mount(target=inside, source=str(host), type="bind", read_only=True)
                    for host, inside in self.spec.ro_binds])
        labels = {"aem.suite": SUITE_LABEL, "aem.run": self.run_id,
                  "aem.instance": self.spec.instance_id[:200], "aem.owner": reaper.owner_token(),
                  "aem.boot": reaper.boot_id()}
        with _starts:
            self.id = api.create_container(
                self.image, command=["/bin/sh", "-c", "exec cat >/dev/null"], stdin_open=True, labels=labels,
                name=f"aem-swe-{self.run_id}", host_config=host_config, stop_signal="SIGKILL", user=_KEEPER,
                network_disabled=True, working_dir="/")["Id"]
            reaper.track(self)
            self._stdin = api.attach_socket(self.id, params={"stdin": 1, "stream": 1})  # the dead-man switch
            api.start(self.id)
        self._proc_root, self._oom_file = self._host_view()

    def _host_view(self) -> tuple[Path, Path]:
        """(the container's root as seen from the host, its memory cgroup's oom_control): found from the
        engine's default cgroup path without a round trip, else through ``inspect``; may not exist (a
        remote engine), and then quota and OOM are judged without them."""
        cg = reaper.CGROUP_ROOT / "memory" / "docker" / self.id
        try:
            pid = int((cg / "cgroup.procs").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pid = self.client.api.inspect_container(self.id)["State"]["Pid"]
            try:
                for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
                    _, ctrl, path = line.split(":", 2)
                    if "memory" in ctrl.split(","):
                        cg = reaper.CGROUP_ROOT / "memory" / path.lstrip("/")
            except OSError:
                cg = Path("/nonexistent")
        return Path(f"/proc/{pid}/root"), cg / "memory.oom_control"

    def _populate(self) -> None:
        """The work tree: our repo (plus overlay) into the tmpfs, or the image's made writable for us."""
        if self.own_tree:
            tar = _tree_tar(self.spec.source_dir, self.spec.overlay)
            untar = self.exec(f"tar -x -f - -C {WORKDIR}", stdin=tar, timeout=300)
            self._check(untar, bool(self.spec.overlay))
            src = self.spec.source_dir
            self.baseline = dict(_source_baseline(str(src), os.stat(src).st_mtime_ns))
            for rel, data in self.spec.overlay.items():
                self.baseline.pop(rel, None)
                if data is not None:
                    self.baseline[rel] = snapshot.digest(data)
            return
        self._open_image_tree()
        if self.spec.overlay:  # deletions first: a deleted file may make room for a directory of that name
            gone = [shlex.quote(p) for p, d in self.spec.overlay.items() if d is None]
            rm = f"rm -f -- {' '.join(gone)} && " if gone else ""
            tar = _tree_tar(None, self.spec.overlay)
            self._check(self.exec(f"{rm}tar -x -f - -C {WORKDIR}", stdin=tar, timeout=300), True)
        self.baseline = self._scan(None, 1 << 62, 1 << 62, base=True)

    def _open_image_tree(self) -> None:
        """Make the image's ``/testbed`` writable for the sandbox user (harness images keep it root-owned).
        Without capabilities only a file's owner may chmod it, so each owner does its own files."""
        find = f"find {WORKDIR} -xdev -printf '%U:%G\\n' | sort -u"
        owners, _ = self._exec_raw(find, b"", 120, 1 << 20, "0:0")
        self._check(owners)
        for owner in ["0:0", *sorted(set(owners.output.split()) - {"0:0"})]:
            uid = owner.split(":")[0]
            if not (uid.isdigit() and owner.split(":")[1].isdigit()):
                continue
            chmod = f"find {WORKDIR} -xdev -user {uid} -exec chmod a+rwX {{}} + 2>/dev/null; true"
            self._check(self._exec_raw(chmod, b"", 300, 1 << 20, owner)[0])

    @staticmethod
    def _check(r: ExecResult, overlay: bool = False) -> None:
        if r.exit_code:
            err = OverlayError if overlay else SandboxError
            raise err(f"preparing /testbed failed ({r.exit_code}): {r.output[-500:]}")

    def _close(self) -> None:
        # Closing stdin ends `cat`, so the container stops and the engine removes it (auto-remove); the
        # forced removal makes sure, off the caller's clock. The reaper covers a removal that never ran.
        for obj in (getattr(getattr(self, "_stdin", None), "_sock", None), getattr(self, "_stdin", None)):
            try:
                obj.close()
            except Exception:
                pass
        if self.id:
            threading.Thread(target=_remove, args=(self.client.api, self.id), daemon=True).start()

    # -- commands ----------------------------------------------------------------------------------
    def _env(self) -> list[str]:
        env = dict(SANDBOX_ENV)
        if not self.own_tree:
            env.pop("PATH")  # harness images set their own (conda)
        return [f"{k}={v}" for k, v in env.items()]

    def _exec_raw(self, command_text: str, stdin: bytes | None, timeout: float, cap: int,
                  user: str | None = None, cwd: str = WORKDIR) -> tuple[ExecResult, bytes]:
        data = command.frame(command_text, stdin)
        oom0, free0 = self._oom_kills(), self._free()
        try:
            raw = run_exec(self.client.api, self.id, command.argv(self.limits.disk_mb), data,
                           user=user or self.user, workdir=cwd, environment=self._env(), timeout=timeout,
                           cap=cap)
        except Exception as e:  # the engine or the container failed, not the command
            raise SandboxError(f"docker exec failed: {type(e).__name__}: {e}") from e
        rc, reason = classify(raw.exit_code, timed_out=raw.timed_out, oom=self._oom_kills() > oom0,
                              truncated=raw.truncated, over_quota=self._over_quota(free0))
        text = raw.output.decode("utf-8", errors="replace")
        return ExecResult(rc, text, raw.timed_out, 0.0, raw.truncated, reason, timeout), raw.output

    def exec(self, command_text: str, *, timeout: float | None = None, stdin: bytes | None = None,
             cwd: str = WORKDIR) -> ExecResult:
        if self.closed:
            raise SandboxError("sandbox is closed")
        timeout = self.limits.timeout_s if timeout is None else timeout
        t0 = time.monotonic()
        with self._lock:
            res, _ = self._exec_raw(command_text, stdin, timeout, self.limits.max_output_bytes, cwd=cwd)
        res.duration_s = time.monotonic() - t0
        return res

    def _oom_kills(self) -> int:
        try:
            text = self._oom_file.read_text()
        except OSError:
            return 0
        return next((int(ln.split()[1]) for ln in text.splitlines() if ln.startswith("oom_kill ")), 0)

    def _free(self) -> int | None:
        """Free bytes of the work tree's tmpfs (seen through the container's root), None if unknown."""
        if not self.own_tree:
            return None
        try:
            st = os.statvfs(self._proc_root / WORKDIR.lstrip("/"))
        except OSError:
            return None
        return st.f_bfree * st.f_frsize

    def _over_quota(self, free0: int | None) -> bool:
        """The command filled the work tree to its quota."""
        if self.own_tree:
            free = self._free()
            return free is not None and free0 is not None and free < free0 and free < (64 << 10)
        try:
            used = self.client.api.inspect_container(self.id, size=True).get("SizeRw") or 0
        except Exception:
            return False
        return used > self.limits.disk_mb << 20

    # -- reading the tree back ---------------------------------------------------------------------
    def _scan(self, baseline, max_file: int, max_total: int, base: bool = False):
        cmd = f"exec python3 -I -S /dev/fd/4 4<<'AEM_SNAPSHOT_PY'\n{_SNAPSHOT_PY}\nAEM_SNAPSHOT_PY\n"
        args = json.dumps({"root": WORKDIR, "baseline": baseline, "max_file": max_file,
                           "max_total": max_total})
        with self._lock:
            res, raw = self._exec_raw(cmd, args.encode(), 300, max_total + (16 << 20), cwd="/")
        if res.exit_code and not res.output_truncated:
            raise SandboxError(f"reading /testbed back failed ({res.exit_code}): {res.output[-300:]}")
        records = snapshot.read_records(raw)
        if base:
            return {r["p"]: r["d"] for r in records if r["k"] == "base"}
        return snapshot.collect(records, max_total)

    def snapshot(self, max_file_bytes: int = 8 << 20, max_total_bytes: int = 64 << 20) -> Snapshot:
        if self.closed:
            raise SandboxError("sandbox is closed")
        return self._scan(self.baseline, max_file_bytes, max_total_bytes)
