"""Agents are pluggable like envs: examples/aem-example-agent-plugin (installed by the bootstrap, like the
env plugin) declares the kind ``prefer`` in the ``aem_gym.agents`` entry-point group, and ``aem eval``
runs it end to end without aem-gym naming it anywhere."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aem_gym.agents import make_policy, policy_kinds

SPEC = "prefer:open chest,take key"


def _aem(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aem_gym.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_plugin_kind_is_listed_and_built_from_its_entry_point():
    assert "prefer" in policy_kinds()
    policy = make_policy("prefer:take key", seed=3)  # evaluator keyword arguments are passed through
    assert type(policy).__module__ == "aem_example_agent"
    assert policy.act(["go east", "take key", "look"], turn=0) == "take key"
    assert policy.act(["look", "go east", "go west"], turn=3) == "go west"  # walks when nothing matches


def test_aem_eval_runs_a_plugin_agent_end_to_end(tmp_path):
    out = tmp_path / "run"
    proc = _aem("eval", "--agent", SPEC, "--suite", "example", "--episodes", "4", "--out", str(out),
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["agent"] == SPEC and summary["overall"]["episodes"] == 4
    # Its rule shows in every trajectory: it never looks around or checks its inventory, and it takes the
    # key / opens the chest the turn the room offers them (it is not the oracle: it walks blindly).
    episodes = [json.loads(line) for f in (out / "trajectories").iterdir()
                for line in f.read_text().splitlines()]
    actions = [t["action"] for ep in episodes for t in ep["turns"]]
    assert actions and all(a.startswith("go ") or a in ("take key", "open chest") for a in actions)
    for ep in episodes:
        for turn in ep["turns"]:  # ``observation`` is what the agent saw before choosing ``action``
            seen = turn["observation"].rsplit("You are in the", 1)[-1]
            expected = "open chest" if "a chest" in seen else "take key" if "a key" in seen else None
            if expected and turn["action"] != expected:
                pytest.fail(f"{ep['episode_id']}: saw {seen!r} but did {turn['action']!r}, not {expected!r}")
    assert 0 < summary["overall"]["success_rate"] <= 1


@pytest.mark.parametrize(("spec", "message"), [
    ("nosuch:x", "unknown agent kind 'nosuch'"),
    ("prefer:", "prefer needs at least one action prefix"),
])
def test_bad_agent_specs_get_one_clear_line(tmp_path, spec, message):
    proc = _aem("eval", "--agent", spec, "--suite", "example", "--episodes", "1",
                "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr
    if spec.startswith("nosuch"):
        assert "prefer" in proc.stderr and "aem_gym.agents" in proc.stderr  # lists plugins, names the fix
