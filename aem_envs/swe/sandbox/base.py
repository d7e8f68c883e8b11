"""The ``Sandbox`` interface every runtime implements, its value types, and the runtime registry.

A sandbox is one isolated copy of a repository at ``/testbed``:

* ``exec(command, timeout=, stdin=)`` runs ``bash -c command`` inside it and returns an ``ExecResult``
  (exit code from the process, output capped, ``timed_out`` when the wall clock ran out). It never
  raises for anything the command does; it raises ``SandboxError`` only when the runtime itself broke.
* ``snapshot()`` reads the work tree back (regular files and symlinks, ``.git`` and bytecode left out),
  which is how the grader takes the agent's changes without trusting anything the agent can edit.
* ``close()`` kills everything the sandbox started and removes its state; idempotent.

Runtimes register with ``@register_runtime("name")``; ``create_sandbox(name, spec)`` builds one and
``runtime_status(name)`` says whether a runtime can run here and, if not, how to set it up.
"""

from __future__ import annotations

import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

SUITE_LABEL = "aem-gym"
WORKDIR = "/testbed"
# Never part of an agent's change: VCS metadata and bytecode the test runs leave behind.
SNAPSHOT_EXCLUDE_DIRS = frozenset({".git", "__pycache__", ".pytest_cache"})
SNAPSHOT_EXCLUDE_SUFFIXES = (".pyc", ".pyo")


class SandboxError(RuntimeError):
    """The runtime failed (not the command): no daemon, no rootfs, a container that vanished."""


class RuntimeUnavailable(SandboxError):
    """A runtime cannot run on this machine; the message says how to set it up."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox. ``memory_mb``/``pids`` are enforced by a cgroup (bwrap) or the
    engine (docker); ``timeout_s`` is the default wall clock of one command."""

    memory_mb: int = 1024
    pids: int = 256
    timeout_s: float = 30.0
    max_output_bytes: int = 4 << 20
    uid: int | None = 1000


@dataclass(frozen=True)
class SandboxSpec:
    """What to start: a host directory copied to ``/testbed`` (our repos), or an image that already
    holds ``/testbed`` (SWE-bench harness images, docker only)."""

    instance_id: str
    source_dir: Path | None = None
    image: str | None = None
    limits: Limits = field(default_factory=Limits)
    run_id: str = ""


@dataclass
class ExecResult:
    exit_code: int
    output: str
    timed_out: bool = False
    duration_s: float = 0.0
    output_truncated: bool = False


@dataclass
class Snapshot:
    """The work tree's content: ``files`` maps relative paths to bytes, ``symlinks`` to link targets,
    ``skipped`` names what was not read (too large, special files)."""

    files: dict[str, bytes] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def excluded(rel: str) -> bool:
    parts = rel.split("/")
    return any(p in SNAPSHOT_EXCLUDE_DIRS for p in parts) or rel.endswith(SNAPSHOT_EXCLUDE_SUFFIXES)


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

    @abstractmethod
    def exec(self, command: str, *, timeout: float | None = None, stdin: bytes | None = None,
             cwd: str = WORKDIR) -> ExecResult:
        """Run ``bash -c command`` in the sandbox (see the module docstring)."""

    @abstractmethod
    def snapshot(self, max_file_bytes: int = 8 << 20) -> Snapshot:
        """Regular files and symlinks under ``/testbed`` (minus ``.git`` and bytecode)."""

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


_RUNTIMES: dict[str, type[Sandbox]] = {}
_STATUS: dict[str, Callable[[], str | None]] = {}


def register_runtime(name: str, status: Callable[[], str | None]) -> Callable[[type[Sandbox]], type[Sandbox]]:
    """Class decorator: make a runtime available as ``name``; ``status()`` returns None when it can run,
    else the reason and the fix."""

    def deco(cls: type[Sandbox]) -> type[Sandbox]:
        cls.runtime = name
        _RUNTIMES[name] = cls
        _STATUS[name] = status
        return cls

    return deco


def _load_runtimes() -> None:
    # Imported here (not at module import) so `import aem_envs` stays light and docker's SDK loads only
    # when someone asks for a sandbox.
    from aem_envs.swe.sandbox import bwrap, docker  # noqa: F401


def runtimes() -> list[str]:
    _load_runtimes()
    return sorted(_RUNTIMES)


def runtime_status(name: str) -> str | None:
    """None if runtime ``name`` can run here, else why not and how to fix it."""
    _load_runtimes()
    if name not in _STATUS:
        return f"unknown sandbox runtime {name!r}; known: {', '.join(sorted(_RUNTIMES))}"
    return _STATUS[name]()


def create_sandbox(name: str, spec: SandboxSpec) -> Sandbox:
    reason = runtime_status(name)
    if reason is not None:
        raise RuntimeUnavailable(reason)
    return _RUNTIMES[name](spec)
