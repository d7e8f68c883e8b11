"""Fixtures for the SWE env tests: skip with the reason when a runtime cannot run here."""

from __future__ import annotations

import pytest

from aem_envs.swe import grading, instances, repos
from aem_envs.swe.sandbox import SandboxSpec, create_sandbox, runtime_status


def require(runtime: str) -> None:
    reason = runtime_status(runtime)
    if reason is not None:
        pytest.skip(f"{runtime} runtime unavailable: {reason}")


@pytest.fixture(scope="session")
def taskset():
    return instances.load_bundled()


@pytest.fixture
def bwrap():
    require("bwrap")
    return "bwrap"


@pytest.fixture
def docker_rt():
    require("docker")
    return "docker"


def row_of(taskset, slug: str) -> dict:
    return dict(taskset.get(f"aem-mini__{slug}-1"))


def grade_patch(taskset, row: dict, patch: str, runtime: str = "bwrap", extra: str = "") -> grading.GradeResult:
    """Apply ``patch`` (and run ``extra`` shell) in an agent sandbox, then grade it."""
    src = repos.checkout(taskset.path(row["bundle"]), row["base_commit"])
    with create_sandbox(runtime, SandboxSpec(row["instance_id"], source_dir=src)) as sb:
        if patch:
            r = sb.exec("git apply -", stdin=patch.encode())
            assert r.exit_code == 0, r.output
        if extra:
            r = sb.exec(extra)
            assert r.exit_code == 0, r.output
        return grading.grade(row, sb, runtime, src, timeout=120)
