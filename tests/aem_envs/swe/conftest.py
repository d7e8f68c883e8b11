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


def grade_patch(taskset, row: dict, patch: str, runtime: str = "bwrap",
                extra: str = "") -> grading.GradeResult:
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


@pytest.fixture(params=["bwrap", "docker"])
def runtime(request):
    require(request.param)
    return request.param


def create(path: str, text: str) -> str:
    """The ``create`` tool call writing ``text`` to ``path``."""
    return f'<create path="{path}">{text}</create>'


def append(path: str, text: str) -> str:
    """A ``bash`` tool call appending ``text`` to ``path`` (quoted heredoc: no expansion)."""
    return f"<bash>cat >> {path} <<'AEM_EOF'\n{text}AEM_EOF\n</bash>"


def play(runtime: str, instance_id: str, actions: list[str], row_patch: dict | None = None, **env_kwargs):
    """Reset ``instance_id``, send ``actions`` through the tools, submit: (reward, GradeResult, observation).
    ``row_patch`` overrides row fields before grading (a ``None`` value deletes the field)."""
    import aem_envs

    env = aem_envs.make("aem/SWERepair-v0", runtime=runtime, **{"instances_source": "swe-mini", **env_kwargs})
    try:
        env.reset(options={"instance_id": instance_id})
        row = env.unwrapped.row
        for k, v in (row_patch or {}).items():
            if v is None:
                row.pop(k, None)
            else:
                row[k] = v
        for a in actions:
            obs, _, term, _, info = env.step(a)
            assert info["is_action_valid"] and not term, obs
        obs, reward, term, _, info = env.step("<submit/>")
        assert term and info["tool"] == "submit", obs
        return reward, env.unwrapped.last_grade, obs
    finally:
        env.close()
