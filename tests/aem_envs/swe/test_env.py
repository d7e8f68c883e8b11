"""The env end to end: aem check, the scripted gold-patch baseline through the tools, tool observations."""

from __future__ import annotations

import pytest

import aem_envs
from aem_envs.swe import tools


def test_aem_check_passes(bwrap):
    report = aem_envs.check("aem/SWERepair-v0", steps=3, fuzz=8)
    assert report.ok, str(report)


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
def test_oracle_solves_through_the_tools(runtime):
    from .conftest import require

    require(runtime)
    env = aem_envs.make("aem/SWERepair-v0", runtime=runtime, instances_source="swe-mini")
    try:
        obs, info = env.reset(options={"instance_id": "aem-mini__cart-1"})  # multi-file
        assert "Issue:" in obs and info["instance_id"] == "aem-mini__cart-1"
        names = []
        for _ in range(20):
            action = env.unwrapped.oracle_action()
            names.append(tools.parse(action).name)
            obs, reward, term, trunc, info = env.step(action)
            assert info["is_action_valid"], obs
            if term:
                break
        assert reward == 1.0 and info["won"] and info["grading"]["resolved"], obs
        assert names[-1] == "submit" and "replace" in names
        assert sorted(info["grading"]["applied_files"]) == ["cart/cart.py", "cart/pricing.py"]
    finally:
        env.close()


def test_tools(bwrap):
    env = aem_envs.make("aem/SWERepair-v0", instances_source="swe-mini", max_output_chars=200,
                        command_timeout=2)
    try:
        env.reset(options={"instance_id": "aem-mini__minicalc-1"})
        obs, *_, info = env.step("<bash>exit 3</bash>")
        assert "[exit code: 3]" in obs and info["is_action_valid"]
        obs, *_ = env.step("Let me look.\n<bash>\nseq 1 1000\n</bash>")
        assert "output truncated" in obs and "[exit code: 0]" in obs
        obs, *_ = env.step("<bash>sleep 10</bash>")
        assert "timed out" in obs
        obs, *_ = env.step('<view path="minicalc/stats.py" start="12" end="13"/>')
        assert obs.splitlines()[0].strip().startswith("12")
        obs, *_, info = env.step('<replace path="minicalc/stats.py"><old>xs</old><new>ys</new></replace>')
        assert not info["is_action_valid"] and "exactly once" in obs
        obs, *_, info = env.step('<create path="../../etc/x">hi</create>')
        assert not info["is_action_valid"] and "outside /testbed" in obs
        obs, *_, info = env.step('<view path="nope.py"/>')
        assert not info["is_action_valid"] and "no such file" in obs
        for bad in ["", "<bash>", "<replace path=\"a\">x</replace>", "<bash>\x00</bash>",
                    "<bash>\ud800</bash>"]:
            obs, *_, info = env.step(bad)
            assert not info["is_action_valid"] and obs.startswith("Invalid tool call"), bad
        obs, reward, term, _, info = env.step("<submit/>")
        assert term and reward == 0.0 and "FAIL_TO_PASS" in info["grading"]["tests_status"]
        obs, *_, info = env.step("<bash>ls</bash>")
        assert not info["is_action_valid"] and "over" in obs
    finally:
        env.close()


def test_two_tool_calls_are_refused_and_whitespace_is_kept(bwrap):
    """Issue 20: a second tool call in one reply was dropped silently; one-line edits lost whitespace."""
    from aem_envs.wrappers import ActionParser

    env = ActionParser(aem_envs.make("aem/SWERepair-v0", instances_source="swe-mini", command_timeout=10))
    try:
        env.reset(options={"instance_id": "aem-mini__minicalc-1"})
        obs, *_, info = env.step('<action><create path="n.txt">a</create>\n<bash>cat n.txt</bash></action>')
        assert not info["is_action_valid"] and "2 tool calls (<create>, <bash>)" in obs
        obs, *_ = env.step("<action><bash>ls n.txt</bash></action>")
        assert "No such file" in obs  # nothing of the refused reply ran
        obs, *_ = env.step('<action><create path="n.txt">x = 1;  y  = 2</create></action>')
        obs, *_, info = env.step('<action><replace path="n.txt"><old>;  y  =</old><new>;\ty =</new></replace>'
                                 '</action>')
        assert info["is_action_valid"], obs
        obs, *_ = env.step('<action><bash>printf "a  b|"; cat n.txt</bash></action>')
        assert obs.startswith("a  b|x = 1;\ty = 2")
    finally:
        env.close()


def _oracle_edits(env) -> list[str]:
    """The oracle's tool calls before its submit, played on ``env`` (then reset)."""
    edits = []
    env.reset(options={"instance_id": "aem-mini__minicalc-1"})
    while (a := env.unwrapped.oracle_action()) != "<submit/>":
        edits.append(a)
        env.step(a)
    return edits


@pytest.mark.parametrize("where", ["registered", "run"])
def test_the_turn_limit_grades_the_work_as_it_stands(bwrap, where):
    """Issue 20: at the turn limit a correct but unsubmitted fix scored 0; now the limit grades it, whether
    it is the env's registered limit or a run's own (TurnLimit)."""
    from aem_envs.wrappers import TurnLimit

    probe = aem_envs.make("aem/SWERepair-v0", instances_source="swe-mini")
    try:
        edits = _oracle_edits(probe)
    finally:
        probe.close()
    n = len(edits) + 1  # the edits, then one more look: the limit falls on that turn
    mini = {"instances_source": "swe-mini"}
    env = (aem_envs.make("aem/SWERepair-v0", max_episode_steps=n, **mini) if where == "registered"
           else TurnLimit(aem_envs.make("aem/SWERepair-v0", **mini), max_turns=n))
    try:
        obs, _ = env.reset(options={"instance_id": "aem-mini__minicalc-1"})
        assert "fresh shell" in obs and "30 seconds" in obs and "python3" in obs  # the sandbox's rules
        for a in edits:
            assert env.step(a)[2] is False
        obs, reward, terminated, truncated, info = env.step("<bash>git status --short</bash>")
        assert "[exit code: 0]" in obs and "graded as it stands" in obs and "RESOLVED" in obs
        assert reward == 1.0 and terminated and info["won"] and info["graded_at_turn_limit"]
    finally:
        env.close()
