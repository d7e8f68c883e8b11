"""No leaks: SIGKILL of the process running an episode leaves no sandbox process or container behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import require

CHILD = r"""
import sys
import aem_envs
env = aem_envs.make("aem/SWERepair-v0", runtime=sys.argv[1], instances_source="swe-mini")
env.reset(seed=0)
sb = env.unwrapped.sandbox
print(getattr(sb, "id", "") or sb.run_id, flush=True)
env.step("<bash>sleep %s & sleep %s</bash>")
"""


def _procs_with(token: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if token in (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    out.append(int(d.name))
            except OSError:
                pass
    return out


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
def test_sigkill_leaves_nothing(runtime):
    require(runtime)
    token = str(4000 + os.getpid() % 1000)  # a sleep length no other process uses
    child = subprocess.Popen([sys.executable, "-c", CHILD % (token, token), runtime], stdout=subprocess.PIPE,
                             text=True)
    ident = child.stdout.readline().strip()
    deadline = time.time() + 30
    while not _procs_with(f"sleep {token}") and time.time() < deadline:
        time.sleep(0.1)
    assert _procs_with(f"sleep {token}"), "the sandboxed command never started"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    deadline = time.time() + 20
    while _procs_with(f"sleep {token}") and time.time() < deadline:
        time.sleep(0.1)
    assert not _procs_with(f"sleep {token}"), "sandboxed processes survived their owner"
    if runtime == "docker":
        from aem_envs.swe.sandbox.docker import docker_client

        client = docker_client()
        deadline = time.time() + 20
        while time.time() < deadline and any(c.id == ident for c in client.containers.list(all=True)):
            time.sleep(0.2)
        assert not any(c.id == ident for c in client.containers.list(all=True)), "container survived"
    else:
        from aem_envs.swe.sandbox import reaper

        assert (reaper.state_dir() / ident).exists()  # the work dir stays until the next start-up...
        assert ident in reaper.reap_bwrap()  # ...whose reaper removes it
        assert not (reaper.state_dir() / ident).exists()


def test_close_is_idempotent_and_cleans_up(bwrap):
    import aem_envs
    from aem_envs.swe.sandbox import reaper

    env = aem_envs.make("aem/SWERepair-v0", instances_source="swe-mini")
    env.reset(seed=1)
    run_id = env.unwrapped.sandbox.run_id
    env.close()
    env.close()
    assert not (reaper.state_dir() / run_id).exists()
    assert not any(d.exists() for d in reaper.cgroup_dirs(run_id))


def test_missing_runtime_says_how_to_fix(monkeypatch, tmp_path):
    import aem_envs
    from aem_envs.swe.sandbox import RuntimeUnavailable

    monkeypatch.setenv("AEM_SWE_ROOTFS", str(tmp_path / "nothing"))
    with pytest.raises(RuntimeUnavailable, match="make system"):
        aem_envs.make("aem/SWERepair-v0", runtime="bwrap")
