"""Talking to the Docker engine: the cached client, one exec with stdin and a deadline, the reaper.

* ``docker_client()``: one SDK client per process whose daemon answered a ping (explicit timeouts).
* ``run_exec``: an exec whose stdin carries ``command.frame`` (written by a thread while the output is
  read, then half-closed), whose multiplexed output is read with a deadline and a byte cap, and which is
  killed (every process of its user, ``kill -KILL -1``) when either runs out, or when the wrapper died
  by a signal before its own clean-up. The exit code comes from the engine (``exec_inspect``), never
  from the output.
* ``reap_docker()``: removes this suite's containers (by label) whose owner process is dead or from an
  earlier boot, in **every** state (created, running, paused, restarting, exited, dead).
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from dataclasses import dataclass

from aem_envs.swe.sandbox import reaper
from aem_envs.swe.sandbox.base import SUITE_LABEL

CLIENT_TIMEOUT_S = 120
_client = None
_client_lock = threading.Lock()
client_error = ""


def docker_client():
    """A cached SDK client whose daemon answered a ping, or None (the reason is in ``client_error``)."""
    global _client, client_error
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
            client_error = f"{type(e).__name__}: {e}"
            return None
        return _client


@dataclass
class RawExec:
    exit_code: int | None
    output: bytes
    timed_out: bool
    truncated: bool


def _send(raw, data: bytes) -> None:
    try:
        raw.sendall(data)
        raw.shutdown(socket.SHUT_WR)  # the command sees EOF on its stdin
    except OSError:
        pass


def _read_frames(raw, deadline: float, cap: int) -> tuple[bytes, bool, bool]:
    """(payload, timed_out, truncated) of a multiplexed exec stream (8-byte header + payload frames)."""
    buf, out, size = b"", [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(out), True, False
        ready, _, _ = select.select([raw], [], [], min(left, 1.0))
        if not ready:
            continue
        chunk = raw.recv(1 << 16)
        if not chunk:
            return b"".join(out), False, False
        buf += chunk
        while len(buf) >= 8:
            n = struct.unpack(">I", buf[4:8])[0]
            if len(buf) < 8 + n:
                break
            out.append(buf[8:8 + n])
            size += n
            buf = buf[8 + n:]
            if size > cap:
                return b"".join(out)[:cap], False, True


def run_exec(api, container: str, argv: list[str], data: bytes, *, user: str, workdir: str,
             environment: list[str], timeout: float, cap: int) -> RawExec:
    ex = api.exec_create(container, argv, stdin=True, user=user, workdir=workdir, environment=environment)
    sock = api.exec_start(ex["Id"], socket=True)
    raw = getattr(sock, "_sock", sock)
    try:
        threading.Thread(target=_send, args=(raw, data), daemon=True).start()
        out, timed_out, truncated = _read_frames(raw, time.monotonic() + timeout, cap)
    finally:
        for obj in (raw, sock):  # before killing: an unread stream blocks the daemon's other execs
            try:
                obj.close()
            except Exception:
                pass
    if timed_out or truncated:
        kill_user(api, container, user)
    until = time.monotonic() + 5
    info = api.exec_inspect(ex["Id"])
    while info.get("Running") and time.monotonic() < until:  # the stream can close a moment before the exit
        time.sleep(0.02)
        info = api.exec_inspect(ex["Id"])
    rc = None if info.get("Running") else info.get("ExitCode")
    if not (timed_out or truncated) and (rc is None or rc >= 128):  # the wrapper itself may have been killed
        kill_user(api, container, user)  # before its own clean-up: do it from outside
    return RawExec(rc, out, timed_out, truncated)


def kill_user(api, container: str, user: str) -> None:
    """SIGKILL every process of ``user`` in the container (setsid'd ones included; pid 1 is spared)."""
    ex = api.exec_create(container, ["/bin/sh", "-c", "kill -KILL -1"], user=user)
    api.exec_start(ex["Id"])


def reap_docker(client=None) -> list[str]:
    """Remove our containers whose owner process is dead (any state); returns their names. Ours: the suite
    label *and* the owner label a sandbox sets when it creates the container. The suite label alone is not
    enough: containers inherit their image's labels, and our images carry it, so swebench's harness (or a
    user) running one of our harness images would otherwise lose its containers to any sandbox's reaper."""
    client = client or docker_client()
    if client is None:
        return []
    api, gone = client.api, []
    for c in api.containers(all=True, filters={"label": [f"aem.suite={SUITE_LABEL}", "aem.owner"]}):
        labels = c.get("Labels") or {}
        if not labels.get("aem.owner") or not labels.get("aem.run"):
            continue  # not created by a sandbox (an image's labels, or someone else's container)
        if labels.get("aem.boot") == reaper.boot_id() and reaper.owner_alive(labels.get("aem.owner", "")):
            continue
        try:
            if c.get("State") == "paused":
                api.unpause(c["Id"])
            api.remove_container(c["Id"], force=True)
            gone.append((c.get("Names") or [c["Id"]])[0].lstrip("/"))
        except Exception:  # already gone (auto-remove raced us) or being removed
            pass
    return gone
