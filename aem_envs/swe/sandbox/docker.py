"""The Docker runtime: one container per sandbox, through the docker SDK against a local engine.

* Images never come from a registry: our repos run in ``aem-swe-base:bookworm`` (``make system``
  imports it from the same debootstrap rootfs bwrap uses, with ``STOPSIGNAL SIGKILL``) and get their
  work tree copied to ``/testbed``; SWE-bench rows name their harness image, which must be loaded
  locally (``docker image inspect``); a missing image is a clear error, never a pull.
* Containers: labelled (suite, run id, instance id, owner pid, boot id), ``network_mode="none"``,
  memory and pids limits, ``stop_signal=SIGKILL``, auto-removed, at most ``AEM_SWE_DOCKER_STARTS``
  (default 4) starting at once, client timeouts explicit.
* Dead-man switch: the container's main process is ``cat`` reading the stdin this process holds open
  through an attach socket (``StdinOnce``). If this process dies, even by SIGKILL, the socket closes,
  ``cat`` ends, the container stops and is removed. The reaper (by label) covers the rest.
* Image cache policy: only the shared base image (and images a user loaded) exist; we build no
  per-instance images, so there is nothing to prune.
"""

from __future__ import annotations

import io
import os
import shlex
import tarfile
import threading
import time
from pathlib import Path

from docker.utils.socket import frames_iter

from aem_envs.swe.sandbox import reaper
from aem_envs.swe.sandbox.base import (
    SUITE_LABEL,
    WORKDIR,
    ExecResult,
    Sandbox,
    SandboxError,
    SandboxSpec,
    Snapshot,
    excluded,
    register_runtime,
)

BASE_IMAGE = os.environ.get("AEM_SWE_IMAGE", "aem-swe-base:bookworm")
CLIENT_TIMEOUT_S = 120
_starts = threading.BoundedSemaphore(int(os.environ.get("AEM_SWE_DOCKER_STARTS", "4")))
_client = None
_client_lock = threading.Lock()
_client_error = ""


def docker_client():
    """A cached SDK client whose daemon answered a ping, or None (the reason is in ``status()``)."""
    global _client, _client_error
    with _client_lock:
        if _client is not None:
            return _client
        try:
            import docker

            c = docker.from_env(timeout=CLIENT_TIMEOUT_S)
            c.api.timeout = 5
            c.ping()
            c.api.timeout = CLIENT_TIMEOUT_S
            _client = c
        except Exception as e:
            _client_error = f"{type(e).__name__}: {e}"
            return None
        return _client


def status() -> str | None:
    c = docker_client()
    if c is None:
        return (f"no Docker daemon answers ({_client_error[:200]}); run `make system` as root (installs "
                "docker.io and starts dockerd without a bridge network) or set DOCKER_HOST")
    try:
        c.images.get(BASE_IMAGE)
    except Exception:
        return f"Docker image {BASE_IMAGE} is missing; `make system` imports it from the sandbox rootfs"
    return None


def _close_socket(sock) -> None:
    for obj in (getattr(sock, "_sock", None), sock):
        try:
            obj.close()
        except Exception:
            pass


def _tar_dir(src: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(src), arcname=WORKDIR.strip("/"))
    return buf.getvalue()


@register_runtime("docker", status)
class DockerSandbox(Sandbox):
    def __init__(self, spec: SandboxSpec):
        super().__init__(spec)
        self.client = docker_client()
        if self.client is None:
            raise SandboxError(status() or "no Docker daemon")
        image = spec.image or BASE_IMAGE
        try:
            self.client.images.get(image)
        except Exception:
            raise SandboxError(f"Docker image {image!r} is not present locally; load it first "
                               "(`docker load`), images are never pulled") from None
        reaper.reap_once()
        api = self.client.api
        labels = {"aem.suite": SUITE_LABEL, "aem.run": self.run_id, "aem.instance": spec.instance_id[:200],
                  "aem.owner": reaper.owner_token(), "aem.boot": reaper.boot_id()}
        host_config = api.create_host_config(
            network_mode="none", mem_limit=f"{self.limits.memory_mb}m", memswap_limit=f"{self.limits.memory_mb}m",
            pids_limit=self.limits.pids, auto_remove=True, init=False)
        with _starts:
            self.id = api.create_container(
                image, command=["sh", "-c", "cat >/dev/null"], stdin_open=True, detach=False, labels=labels,
                name=f"aem-swe-{self.run_id}", host_config=host_config, stop_signal="SIGKILL",
                network_disabled=True, working_dir="/")["Id"]
            # The dead-man switch (module docstring): hold the container's stdin open.
            self._stdin = api.attach_socket(self.id, params={"stdin": 1, "stream": 1})
            api.start(self.id)
        reaper.track(self)
        self._lock = threading.Lock()
        if spec.source_dir is not None:
            api.put_archive(self.id, "/", _tar_dir(Path(spec.source_dir)))
            if self.limits.uid is not None:
                self._root(f"chown -R {self.limits.uid}:{self.limits.uid} {WORKDIR}")

    def _root(self, cmd: str) -> None:
        api = self.client.api
        ex = api.exec_create(self.id, ["sh", "-c", cmd], user="root")
        api.exec_start(ex["Id"])

    def exec(self, command: str, *, timeout: float | None = None, stdin: bytes | None = None,
             cwd: str = WORKDIR) -> ExecResult:
        if self.closed:
            raise SandboxError("sandbox is closed")
        timeout = self.limits.timeout_s if timeout is None else timeout
        with self._lock:
            return self._exec(command, timeout, stdin, cwd)

    def _exec(self, command: str, timeout: float, stdin: bytes | None, cwd: str) -> ExecResult:
        api = self.client.api
        t0 = time.monotonic()
        if stdin is not None:  # exec has no simple stdin: stage it as a root-owned file
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                info = tarfile.TarInfo("aem-stdin")
                info.size, info.mode = len(stdin), 0o644
                tar.addfile(info, io.BytesIO(stdin))
            api.put_archive(self.id, "/tmp", buf.getvalue())
            command = f"{{ {command}\n}} < /tmp/aem-stdin"
        # `timeout -s KILL` inside: the wall clock holds even if this client stops reading.
        wrapped = f"exec timeout -s KILL {max(1, int(timeout + 0.999))} bash -c {shlex.quote(command)}"
        user = str(self.limits.uid) if self.limits.uid is not None else "root"
        env = ["HOME=/tmp", "LANG=C.UTF-8", "TZ=UTC", "PYTHONHASHSEED=0", "PYTHONDONTWRITEBYTECODE=1",
               "PAGER=cat", "GIT_PAGER=cat", "TERM=dumb"]
        ex = api.exec_create(self.id, ["bash", "-c", wrapped], workdir=cwd, user=user, environment=env)
        chunks, size, cap, truncated = [], 0, self.limits.max_output_bytes, False
        sock = api.exec_start(ex["Id"], socket=True)
        try:
            for _stream, data in frames_iter(sock, tty=False):
                chunks.append(data)
                size += len(data)
                if size > cap:
                    truncated = True
                    break
        finally:
            _close_socket(sock)  # before killing: an unread stream blocks the daemon's other execs
        if truncated:
            self._kill_user_processes()
        rc = api.exec_inspect(ex["Id"]).get("ExitCode")
        for _ in range(50):
            if rc is not None:
                break
            time.sleep(0.05)
            rc = api.exec_inspect(ex["Id"]).get("ExitCode")
        rc = 137 if rc is None else rc
        timed_out = rc in (124, 137) and time.monotonic() - t0 >= timeout - 0.5
        out = b"".join(chunks)[:cap].decode("utf-8", errors="replace")
        return ExecResult(rc, out, timed_out, time.monotonic() - t0, truncated)

    def _kill_user_processes(self) -> None:
        if self.limits.uid is not None:
            self._root(f"pkill -KILL -U {self.limits.uid} || true")

    def snapshot(self, max_file_bytes: int = 8 << 20) -> Snapshot:
        bits, _ = self.client.api.get_archive(self.id, WORKDIR)
        snap = Snapshot()
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits)), mode="r|") as tar:
            prefix = WORKDIR.strip("/") + "/"
            for m in tar:
                if not m.name.startswith(prefix):
                    continue
                rel = m.name[len(prefix):]
                if not rel or excluded(rel):
                    continue
                if m.issym():
                    snap.symlinks[rel] = m.linkname
                elif m.isfile():
                    if m.size > max_file_bytes:
                        snap.skipped.append(rel)
                    else:
                        snap.files[rel] = tar.extractfile(m).read()
                elif not m.isdir():
                    snap.skipped.append(rel)
        return snap

    def _close(self) -> None:
        try:
            self.client.api.remove_container(self.id, force=True)
        except Exception:
            pass  # auto-removed already
        try:
            self._stdin.close()
        except Exception:
            pass
