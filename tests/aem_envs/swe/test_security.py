"""What the agent's commands cannot do: reach the network, write outside the work tree, outlive limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aem_envs.swe.sandbox import Limits, SandboxSpec, create_sandbox


@pytest.fixture(params=["bwrap", "docker"])
def sb(request, tmp_path):
    from .conftest import require

    require(request.param)
    (tmp_path / "a.txt").write_text("a\n")
    box = create_sandbox(request.param, SandboxSpec("sec", source_dir=tmp_path,
                                                   limits=Limits(memory_mb=256, pids=64, timeout_s=20)))
    yield box
    box.close()


def test_no_network(sb):
    code = ("import socket\nfor host in ['127.0.0.1', '1.1.1.1', '10.0.2.2']:\n    s = socket.socket()\n"
            "    s.settimeout(2)\n    try:\n        s.connect((host, 80)); print('CONNECTED', host)\n"
            "    except OSError as e:\n        print('blocked', host, type(e).__name__)\n")
    r = sb.exec(f"python3 -c \"{code}\"")
    assert "CONNECTED" not in r.output and r.output.count("blocked") == 3, r.output
    assert "eth" not in sb.exec("cat /proc/net/dev").output


def test_cannot_write_outside_workdir(sb):
    marker = f"aem-swe-escape-{os.getpid()}"
    r = sb.exec(f"touch /{marker}; touch /etc/{marker}; touch /usr/{marker}; echo ok > /tmp/{marker}; "
                f"touch /testbed/inside && echo wrote-inside")
    assert "wrote-inside" in r.output
    for p in (Path("/") / marker, Path("/etc") / marker, Path("/usr") / marker, Path("/tmp") / marker):
        assert not p.exists(), p


def test_infinite_loop_is_killed(sb):
    r = sb.exec("while :; do :; done", timeout=2)
    assert r.timed_out and r.exit_code != 0 and r.duration_s < 15


def test_fork_bomb_is_contained(sb):
    r = sb.exec("bomb() { bomb | bomb & }; bomb; sleep 30", timeout=5)
    assert r.exit_code != 0 and r.duration_s < 30
    assert sb.exec("echo alive").output.strip() == "alive"  # the sandbox still works afterwards


def test_memory_limit(sb):
    r = sb.exec("python3 -c \"b = bytearray(600 << 20); print('allocated')\"", timeout=20)
    assert "allocated" not in r.output.splitlines() and r.exit_code != 0  # (bash echoes the killed command)


def test_output_is_capped(sb):
    r = sb.exec("yes aem", timeout=20)
    assert r.output_truncated and len(r.output) <= sb.limits.max_output_bytes
