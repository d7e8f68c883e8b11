"""Sandboxed runtimes for aem/SWERepair-v0 behind one interface (see ``base``)."""

from aem_envs.swe.sandbox.base import (
    ExecResult,
    Limits,
    OverlayError,
    RuntimeUnavailable,
    Sandbox,
    SandboxError,
    SandboxSpec,
    Snapshot,
    classify,
    create_sandbox,
    register_runtime,
    runtime_class,
    runtime_status,
    runtimes,
)

__all__ = ["ExecResult", "Limits", "OverlayError",
           "RuntimeUnavailable", "Sandbox", "SandboxError", "SandboxSpec", "Snapshot",
           "classify", "create_sandbox", "register_runtime", "runtime_class", "runtime_status", "runtimes"]
