"""The ``Sandbox`` interface every runtime implements, its value types, and the runtime registry.

A sandbox is one isolated copy of a repository at ``/testbed`` (docs/swe-grader.md says what it grants):

* ``exec(command, timeout=, stdin=)`` runs ``command`` with bash inside it and returns an ``ExecResult``.
  The command text travels on the process's stdin (``command.frame``), never in an argv, so its length
  is not limited by the kernel's argument limits. Exit codes follow one convention on every runtime
  (``classify``): the command's own code; 124 when the wall clock ran out; 128+N when a signal killed
  it, with ``reason`` saying which of timeout / oom / signal / output-limit / disk-quota happened.
  Nothing a command starts outlives it. ``exec`` never raises for anything the command does; it raises
  ``SandboxError`` when the runtime itself broke.
* ``snapshot()`` reads back what changed in the work tree since the sandbox started (``snapshot.scan``):
  regular files and symlinks, ``.git`` and bytecode left out, each file capped by its apparent size and
  the whole read capped in total, streamed (never a whole-tree archive in memory).
* ``close()`` kills everything the sandbox started and removes its state; idempotent.

Runtimes are registered by name as ``"module:Class"`` strings (``register_runtime``), imported only when
used: this module imports none of them.
"""

from __future__ import annotations

import os
import signal
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from aem_envs.registry import Registry, RegistryError

SUITE_LABEL = "aem-gym"
WORKDIR = "/testbed"
EXIT_TIMEOUT = 124  # GNU timeout's code, on every runtime
EXIT_SIGNAL_BASE = 128  # a command killed by signal N exits 128+N, as a shell reports it
# Never part of an agent's change: VCS metadata and bytecode the test runs leave behind.
SNAPSHOT_EXCLUDE_DIRS = frozenset({".git", "__pycache__", ".pytest_cache"})
SNAPSHOT_EXCLUDE_SUFFIXES = (".pyc", ".pyo")
SANDBOX_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/tmp", "LANG": "C.UTF-8", "TZ": "UTC", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
    "GIT_CONFIG_NOSYSTEM": "1", "TERM": "dumb", "PAGER": "cat", "GIT_PAGER": "cat", "AEM_SANDBOX": "1",
    # /testbed may belong to another uid (harness images): let git work there anyway.
    "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*",
}


class SandboxError(RuntimeError):
    """The runtime failed (not the command): no daemon, no rootfs, a container that vanished."""


class OverlayError(SandboxError):
    """The files a sandbox was asked to start with (``SandboxSpec.overlay``: the agent's accepted changes)
    could not be written into its work tree: a graded outcome of the agent's changes, not a broken runtime."""


class RuntimeUnavailable(SandboxError):
    """A runtime cannot run on this machine; the message says how to set it up."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox. ``memory_mb``/``pids`` are enforced by a cgroup (bwrap) or the
    engine (docker); ``disk_mb`` caps the work tree (a size-limited tmpfs, else a size check with a
    per-file cap); ``timeout_s`` is the default wall clock of one command. ``uid``/``gid`` are the ids
    commands run as inside the sandbox (never 0 on the host: see docs/swe-grader.md)."""

    memory_mb: int = 1024
    pids: int = 256
    timeout_s: float = 30.0
    max_output_bytes: int = 4 << 20
    uid: int | None = 1000
    gid: int | None = 1000
    disk_mb: int = 512


@dataclass(frozen=True)
class SandboxSpec:
    """What to start: a host directory copied to ``/testbed`` (our repos), or an image that already
    holds ``/testbed`` (SWE-bench harness images, docker only). ``overlay`` replaces (bytes) or deletes
    (None) files of that tree before anything runs: how the grader starts from the base commit plus the
    agent's accepted changes."""

    instance_id: str
    source_dir: Path | None = None
    image: str | None = None
    limits: Limits = field(default_factory=Limits)
    run_id: str = ""
    overlay: Mapping[str, bytes | None] = field(default_factory=dict)
    # Host folders mounted read-only, as (host path, sandbox path): a task's test environment over the
    # sandbox python's site directory (swe-real, docs/swe-real.md). The sandbox path must exist in the
    # rootfs/image (bwrap cannot create mount points on a read-only root).
    ro_binds: tuple[tuple[str, str], ...] = ()


@dataclass
class ExecResult:
    exit_code: int
    output: str
    timed_out: bool = False
    duration_s: float = 0.0
    output_truncated: bool = False
    reason: str = ""  # "", "timeout", "oom", "signal", "output-limit", "disk-quota"
    timeout_s: float = 0.0

    def note(self) -> str:
        """One line naming why the command ended abnormally (empty if it just exited)."""
        sig = self.exit_code - EXIT_SIGNAL_BASE
        name = signal.Signals(sig).name if sig in signal.valid_signals() else f"signal {sig}"
        return {
            "timeout": f"[command timed out after {self.timeout_s:.0f} s and was killed]",
            "oom": "[killed: out of memory (the sandbox's memory limit)]",
            "signal": f"[killed by {name}]",
            "output-limit": "[output exceeded the sandbox limit; the command was stopped]",
            "disk-quota": "[the work tree reached its disk quota: writes fail until files are deleted]",
        }.get(self.reason, "")


def classify(exit_code: int | None, *, timed_out: bool = False, oom: bool = False, truncated: bool = False,
             over_quota: bool = False) -> tuple[int, str]:
    """The shared convention: (exit code, reason) from what the runtime observed."""
    rc = EXIT_SIGNAL_BASE + signal.SIGKILL if exit_code is None else exit_code
    if rc < 0:  # the process itself died by a signal: report it the way a shell would
        rc = EXIT_SIGNAL_BASE - rc
    if timed_out:
        return EXIT_TIMEOUT, "timeout"
    if over_quota or rc == EXIT_SIGNAL_BASE + signal.SIGXFSZ:  # SIGXFSZ: the per-file cap (ulimit -f)
        return rc, "disk-quota"
    if truncated:
        return rc, "output-limit"
    if oom:
        return rc, "oom"
    if EXIT_SIGNAL_BASE < rc <= EXIT_SIGNAL_BASE + 64:
        return rc, "signal"
    return rc, ""


@dataclass
class Snapshot:
    """What changed in the work tree since the sandbox started: ``files`` maps relative paths to their
    new bytes (``created`` names those that did not exist), ``deleted`` lists removed files,
    ``symlinks`` maps new or changed links to their targets, ``skipped`` names what was not read
    ("path (reason)"). ``complete`` is False when the total cap stopped the read early."""

    files: dict[str, bytes] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)
    symlinks: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    complete: bool = True


def excluded(rel: str) -> bool:
    parts = rel.split("/")
    return any(p in SNAPSHOT_EXCLUDE_DIRS for p in parts) or rel.endswith(SNAPSHOT_EXCLUDE_SUFFIXES)


def plain_relpath(rel: str) -> bool:
    """True for a relative '/'-separated path with no empty, '.' or '..' part (safe to join under a root)."""
    return bool(rel) and not rel.startswith("/") and all(p not in ("", ".", "..") for p in rel.split("/"))


def new_run_id() -> str:
    """Docker-safe id ([a-z0-9-]) naming one sandbox: unique per process and call."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:10]}"


class Sandbox(ABC):
    """One isolated work tree (see the module docstring)."""

    runtime: ClassVar[str] = ""

    def __init__(self, spec: SandboxSpec):
        self.spec = spec
        self.limits = spec.limits
        self.run_id = spec.run_id or new_run_id()
        self.closed = False
        self.baseline: dict[str, str] = {}  # path -> content digest when the sandbox started

    @classmethod
    @abstractmethod
    def status(cls) -> str | None:
        """None if this runtime can run here, else the reason and the fix."""

    @abstractmethod
    def exec(self, command: str, *, timeout: float | None = None, stdin: bytes | None = None,
             cwd: str = WORKDIR) -> ExecResult:
        """Run ``command`` with bash in the sandbox (see the module docstring)."""

    @abstractmethod
    def snapshot(self, max_file_bytes: int = 8 << 20, max_total_bytes: int = 64 << 20) -> Snapshot:
        """What changed under ``/testbed`` since the start (see the module docstring)."""

    @abstractmethod
    def _close(self) -> None: ...

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten sandbox must not leak processes or containers
        try:
            if not getattr(self, "closed", True):
                self.close()
        except Exception:
            pass


_RUNTIMES: Registry[type[Sandbox]] = Registry(
    "sandbox runtime", fix="register one with aem_envs.swe.sandbox.register_runtime(NAME, 'module:Class')")


def register_runtime(name: str, target: str) -> None:
    """Make ``"module:Class"`` (a ``Sandbox`` subclass) available as runtime ``name``."""
    if ":" not in target:
        raise ValueError(f"runtime target must be 'module:Class', got {target!r}")
    _RUNTIMES.lazy(name, target)


register_runtime("bwrap", "aem_envs.swe.sandbox.bwrap:BwrapSandbox")
register_runtime("docker", "aem_envs.swe.sandbox.docker:DockerSandbox")


def runtimes() -> list[str]:
    return _RUNTIMES.names()


def runtime_class(name: str) -> type[Sandbox]:
    try:
        klass = _RUNTIMES.get(name)
    except RegistryError as e:
        raise RuntimeUnavailable(str(e)) from e
    klass.runtime = name
    return klass


def runtime_status(name: str) -> str | None:
    """None if runtime ``name`` can run here, else why not and how to fix it."""
    try:
        return runtime_class(name).status()
    except RuntimeUnavailable as e:
        return str(e)


def create_sandbox(name: str, spec: SandboxSpec) -> Sandbox:
    reason = runtime_status(name)
    if reason is not None:
        raise RuntimeUnavailable(reason)
    return runtime_class(name)(spec)
