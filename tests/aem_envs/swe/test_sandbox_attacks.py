"""What the sandbox must never grant (issue 16, §5-10), one test per attack class, on both runtimes."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
import time

import pytest

from aem_envs.swe.sandbox import Limits, SandboxError, SandboxSpec, create_sandbox

from .conftest import require


@pytest.fixture
def make_sb(runtime, tmp_path):
    made = []

    def make(**limits):
        src = tmp_path / f"src{len(made)}"
        (src / "pkg").mkdir(parents=True)
        (src / "pkg" / "__init__.py").write_text("x = 1\n")
        sb = create_sandbox(runtime, SandboxSpec("attack", source_dir=src, limits=Limits(**limits)))
        made.append(sb)
        return sb

    yield make
    for sb in made:
        sb.close()


def _status(sb, field: str) -> str:
    out = sb.exec(f"grep '^{field}:' /proc/self/status").output
    return out.split(":", 1)[1].strip()


# -- 5. privileges --------------------------------------------------------------------------------
def test_agent_runs_unprivileged(make_sb, runtime):
    sb = make_sb()
    ids = sb.exec("id -u; id -g; id -G").output.split()
    assert ids[0] != "0" and ids[1] != "0" and "0" not in ids[2:], ids
    assert int(_status(sb, "CapEff"), 16) == 0 and int(_status(sb, "CapBnd"), 16) == 0
    assert _status(sb, "NoNewPrivs") == "1"
    if runtime == "bwrap":  # and the ids it maps to on the host are not root's either
        from aem_envs.swe.sandbox import reaper

        sb.exec("mkdir -p /testbed/pkg/d && touch /testbed/pkg/d/f")
        made = reaper.state_dir() / sb.run_id / "testbed" / "pkg" / "d" / "f"
        assert made.stat().st_uid != 0 and made.stat().st_gid != 0


def test_setuid_binary_left_in_the_work_tree_grants_nothing_on_the_host(make_sb, runtime):
    sb = make_sb()
    r = sb.exec("cp /bin/bash /testbed/pkg/sh && chmod 4755 /testbed/pkg/sh && ls -ln /testbed/pkg/sh")
    mounts = sb.exec("grep ' /testbed ' /proc/self/mountinfo").output
    assert "nosuid" in mounts and "nodev" in mounts, mounts
    if runtime != "bwrap":
        return
    assert r.exit_code == 0, r.output
    from aem_envs.swe.sandbox import reaper

    run_dir = reaper.state_dir() / sb.run_id
    assert stat.S_IMODE(reaper.state_dir().stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE(run_dir.stat().st_mode) & 0o077 == 0
    hits = [p for p in run_dir.rglob("sh") if p.is_file()]
    assert hits and all(p.stat().st_uid != 0 and p.stat().st_gid != 0 for p in hits)
    if os.geteuid() == 0:  # run it on the host as `nobody`, as the attack did
        try:
            out = subprocess.run([str(hits[0]), "-p", "-c", "id -u"], user=65534, group=65534,
                                 extra_groups=[], capture_output=True, text=True, timeout=10, env={})
            assert out.stdout.strip() != "0", "setuid binary from the sandbox gave host root"
        except PermissionError:
            pass  # nobody cannot even reach it: the state dirs are private


def test_proc_environ_holds_no_host_secret(runtime, tmp_path, monkeypatch):
    require(runtime)
    secret = "sk-aem-test-" + os.urandom(8).hex()
    monkeypatch.setenv("AEM_FAKE_API_KEY", secret)
    (tmp_path / "f.txt").write_text("x\n")
    with create_sandbox(runtime, SandboxSpec("env", source_dir=tmp_path)) as sb:
        r = sb.exec("for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr '\\0' '\\n' < $f; done; env")
    assert "HOME=" in r.output and secret not in r.output


def test_host_device_nodes_cannot_be_changed(make_sb):
    sb = make_sb()
    before = os.stat("/dev/null")
    r = sb.exec("chmod 666 /dev/null && echo CHANGED; chown 1000 /dev/null && echo CHOWNED; "
                "mknod /testbed/null c 1 3 && echo MKNOD; echo done")
    assert "CHANGED" not in r.output and "CHOWNED" not in r.output and "MKNOD" not in r.output, r.output
    after = os.stat("/dev/null")
    assert (after.st_mode, after.st_uid) == (before.st_mode, before.st_uid)


# -- 8. disk ---------------------------------------------------------------------------------------
def test_disk_quota(make_sb):
    sb = make_sb(disk_mb=64)
    r = sb.exec("dd if=/dev/zero of=/testbed/big bs=1M count=200 2>&1; fallocate -l 4G /testbed/big2 2>&1; "
                "for i in 1 2 3; do head -c 40M /dev/zero > /testbed/f$i 2>&1; done; du -sk /testbed",
                timeout=60)
    used_kib = int(r.output.split()[-2])
    assert used_kib <= 80 * 1024, r.output
    assert r.reason == "disk-quota" or "No space left" in r.output or "quota" in r.output, r.output


def test_sparse_file_snapshot_is_streamed_and_capped(make_sb):
    sb = make_sb()
    r = sb.exec("truncate -s 20G /testbed/pkg/huge.bin && echo made")  # past the per-file cap: refused
    assert "made" not in r.output and r.reason == "disk-quota", (r.exit_code, r.reason, r.output)
    assert sb.exec("truncate -s 400M /testbed/pkg/huge.bin && echo ok").output.strip() == "ok"
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    snap = sb.snapshot(max_file_bytes=8 << 20, max_total_bytes=32 << 20)
    grew_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert any(s.startswith("pkg/huge.bin") for s in snap.skipped) and "pkg/huge.bin" not in snap.files
    assert snap.complete and grew_mib < 200, grew_mib
    # Many files under the per-file cap: the total cap stops the snapshot, and says so.
    sb.exec("for i in $(seq 1 10); do head -c 6M /dev/urandom > /testbed/pkg/blob$i.bin; done", timeout=60)
    snap = sb.snapshot(max_file_bytes=8 << 20, max_total_bytes=32 << 20)
    assert not snap.complete and sum(len(v) for v in snap.files.values()) <= 32 << 20


# -- 9. processes, exit codes, reaping -------------------------------------------------------------
def test_setsid_children_do_not_survive_the_command(make_sb):
    sb = make_sb(timeout_s=20)
    r = sb.exec("setsid sleep 4242 & setsid nohup sleep 4243 >/dev/null 2>&1 & sleep 30", timeout=2)
    assert r.timed_out and r.exit_code == 124 and r.reason == "timeout"
    sb.exec("setsid nohup sleep 4244 >/dev/null 2>&1 & echo started")
    left = sb.exec("ps -eo args | grep -c '^sleep 424[234]' || true").output.strip()
    assert left == "0", sb.exec("ps -eo pid,args").output


def test_one_exit_code_convention(make_sb):
    sb = make_sb(memory_mb=128, timeout_s=20)
    t = sb.exec("sleep 30", timeout=1)
    assert (t.exit_code, t.reason, t.timed_out) == (124, "timeout", True)
    oom = sb.exec("python3 -c \"b = bytearray(400 << 20); print('allocated')\"")
    assert (oom.exit_code, oom.reason) == (137, "oom"), (oom.exit_code, oom.reason, oom.output[-300:])
    sig = sb.exec("kill -SEGV $$")
    assert (sig.exit_code, sig.reason) == (139, "signal"), (sig.exit_code, sig.reason)
    ok = sb.exec("exit 3")
    assert (ok.exit_code, ok.reason) == (3, "")


def test_observation_names_timeout_oom_and_signal(runtime):
    import aem_envs

    env = aem_envs.make("aem/SWERepair-v0", runtime=runtime, instances_source="swe-mini", command_timeout=2,
                        memory_mb=128)
    try:
        env.reset(options={"instance_id": "aem-mini__minicalc-1"})
        obs, *_ = env.step("<bash>sleep 20</bash>")
        assert "[exit code: 124]" in obs and "timed out" in obs
        obs, *_ = env.step("<bash>python3 -c 'b = bytearray(400 << 20)'</bash>")
        assert "[exit code: 137]" in obs and "out of memory" in obs, obs
        obs, *_ = env.step("<bash>kill -SEGV $$</bash>")
        assert "[exit code: 139]" in obs and "SIGSEGV" in obs, obs
    finally:
        env.close()


def test_reaper_removes_dead_owners_containers_in_every_state(tmp_path):
    require("docker")
    from aem_envs.swe.sandbox.docker import BASE_IMAGE, docker_client

    client = docker_client()
    dead = subprocess.Popen([sys.executable, "-c", "import os; print(os.getpid())"], stdout=subprocess.PIPE,
                            text=True)
    pid = int(dead.stdout.read())
    dead.wait()
    labels = {"aem.suite": "aem-gym", "aem.owner": f"{pid}:12345", "aem.boot": "x", "aem.run": "reaper-test"}
    made = {}
    for state in ("created", "running", "exited", "paused"):
        c = client.containers.create(BASE_IMAGE, ["sleep", "600"], labels=labels, network_mode="none")
        if state != "created":
            c.start()
        if state == "exited":
            c.kill()
        if state == "paused":
            c.pause()
        made[state] = c.id
    (tmp_path / "f").write_text("x")
    code = ("from aem_envs.swe.sandbox import SandboxSpec, create_sandbox\n"
            f"create_sandbox('docker', SandboxSpec('r', source_dir={str(tmp_path)!r})).close()\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env={**os.environ})
    left = {s: i for s, i in made.items() if any(c.id == i for c in client.containers.list(all=True))}
    for i in left.values():
        client.api.remove_container(i, force=True)
    assert not left, f"the reaper left containers in states {sorted(left)}"


def test_reaper_leaves_containers_it_did_not_create():
    """Containers inherit their image's labels, and our images carry aem.suite: swebench's harness running a
    harness image (docs/swe-rows.md) makes such containers, and no sandbox's reaper may remove them."""
    require("docker")
    from aem_envs.swe.sandbox.docker import BASE_IMAGE, docker_client, reap_docker

    client = docker_client()
    foreign = client.containers.create(BASE_IMAGE, ["sleep", "600"], network_mode="none",
                                       name=f"aem-reaper-foreign-{os.getpid()}")
    try:
        assert foreign.labels.get("aem.suite") == "aem-gym"  # inherited from the image
        gone = reap_docker(client)
    finally:
        try:
            client.api.remove_container(foreign.id, force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
    assert foreign.name not in gone, "the reaper removed a container it did not create"


# -- 10. long commands, sandbox failures -----------------------------------------------------------
def test_long_command_runs(runtime):
    import aem_envs

    env = aem_envs.make("aem/SWERepair-v0", runtime=runtime, instances_source="swe-mini")
    try:
        env.reset(options={"instance_id": "aem-mini__minicalc-1"})
        obs, _, _, _, info = env.step(f"<bash>: '{'x' * (200 << 10)}'; echo long-ok</bash>")
        assert info["is_action_valid"] and "long-ok" in obs and "[exit code: 0]" in obs, obs[-500:]
        big = "y" * (300 << 10)
        obs, _, _, _, info = env.step(f'<create path="minicalc/big.txt">{big}</create>')
        assert info["is_action_valid"], obs
        obs, *_ = env.step("<bash>wc -c < minicalc/big.txt</bash>")
        assert obs.startswith(str(len(big) + 1)), obs
    finally:
        env.close()


def test_sandbox_failure_is_an_invalid_action(runtime, monkeypatch):
    import aem_envs

    env = aem_envs.make("aem/SWERepair-v0", runtime=runtime, instances_source="swe-mini")
    try:
        env.reset(options={"instance_id": "aem-mini__minicalc-1"})
        sb = env.unwrapped.sandbox
        if runtime == "docker":  # the real thing: the container disappears under us
            sb.client.api.remove_container(sb.id, force=True)
        else:
            def broken(*a, **k):
                raise OSError("bwrap vanished")

            monkeypatch.setattr(sb, "exec", broken)
            monkeypatch.setattr(sb, "snapshot", broken)
        obs, reward, term, trunc, info = env.step("<bash>ls</bash>")
        assert not info["is_action_valid"] and "sandbox" in obs.lower(), obs
        obs, reward, term, trunc, info = env.step('<view path="minicalc/stats.py"/>')
        assert not info["is_action_valid"]
        obs, reward, term, trunc, info = env.step("<submit/>")
        assert term and reward == 0.0 and not info["is_action_valid"], obs
    finally:
        env.close()


def test_closed_sandbox_raises_sandbox_error(make_sb):
    sb = make_sb()
    sb.close()
    with pytest.raises(SandboxError):
        sb.exec("true")
    t0 = time.monotonic()
    sb.close()  # idempotent
    assert time.monotonic() - t0 < 1
