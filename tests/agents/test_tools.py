"""The tools protocol: calls become the text protocol's actions; bad calls get a clear observation."""

from __future__ import annotations

import json

import pytest

import aem_envs
from aem_envs.swe.tools import parse as parse_swe
from aem_envs.wrappers import ActionParser
from aem_gym.agents import RolloutEngine
from aem_gym.agents.tools import (
    ACT,
    SWE,
    ToolCallError,
    ToolCallParser,
    call_to_action,
    decode_calls,
    encode_reply,
    toolset,
)
from aem_gym.agents.types import Generation


def call(name, **args):
    return [{"name": name, "arguments": json.dumps(args)}]


@pytest.mark.parametrize("name,args,want", [
    ("bash", {"command": "grep -n 'def f' pkg/m.py"}, ("bash", {}, "grep -n 'def f' pkg/m.py")),
    ("view", {"path": "pkg/m.py", "start": 3, "end": 9},
     ("view", {"path": "pkg/m.py", "start": "3", "end": "9"}, "")),
    ("view", {"path": "a.py"}, ("view", {"path": "a.py"}, "")),
    ("replace", {"path": "m.py", "old": "    a  = 1", "new": "    a = 2\n"},
     ("replace", {"path": "m.py"}, "<old>    a  = 1</old><new>    a = 2\n</new>")),
    ("create", {"path": "n.py", "content": "x = 1\n\ny = 2"}, ("create", {"path": "n.py"}, "x = 1\n\ny = 2")),
    ("submit", {}, ("submit", {}, "")),
])
def test_swe_calls_become_the_envs_own_tool_syntax(name, args, want):
    action = call_to_action(call(name, **args), SWE)
    parsed = parse_swe(action)  # the SWE env's own parser reads exactly the call
    assert (parsed.name, parsed.attrs, parsed.body) == want


@pytest.mark.parametrize("calls,match", [
    (call("rm", path="x"), "unknown function 'rm'"),
    (call("bash", command="ls") * 2, "exactly one function"),
    ([{"name": "bash", "arguments": "{not json"}], "not valid JSON"),
    (call("bash"), "missing"),
    (call("bash", command="ls", cwd="/"), "unknown"),
    (call("view", path="a.py", start="one"), "must be of type integer"),
    (call("create", path='a".py', content=""), "double quote"),
    (call("bash", command="echo <action>x</action>"), "<action> tags"),
    ([], "exactly one function"),
])
def test_bad_calls_say_what_is_wrong(calls, match):
    with pytest.raises(ToolCallError, match=match):
        call_to_action(calls, SWE)


def test_act_for_every_other_env_and_the_text_fallback():
    assert toolset("aem/Household-v0") is ACT and toolset("aem/WebShop-v0") is ACT
    assert toolset("aem/SWERepair-v0") is SWE
    text = 'I will look.\n<tool_call>{"name": "act", "arguments": {"action": "go to desk 1"}}</tool_call>'
    assert call_to_action(decode_calls(text), ACT) == "go to desk 1"
    assert decode_calls("<action>look</action>") is None
    native = Generation(text="", tool_calls=[{"id": "1", "type": "function",
                                              "function": {"name": "act",
                                                           "arguments": '{"action": "look"}'}}])
    assert call_to_action(decode_calls(encode_reply(native)), ACT) == "look"
    assert encode_reply(Generation(text="<action>x</action>")) == "<action>x</action>"


def test_wrapper_refuses_bad_calls_without_moving_the_env():
    env = ToolCallParser(ActionParser(aem_envs.make("aem/Household-v0")))
    obs0, _ = env.reset(seed=0)
    obs, r, term, trunc, info = env.step("I think I should look around.")
    assert "Invalid tool call: the reply has no tool call" in obs and "act" in obs and obs.endswith(obs0)
    assert not info["is_action_valid"] and info["parse_error"] and (r, term, trunc) == (0.0, False, False)
    ok = '<tool_call>{"name": "act", "arguments": {"action": "look"}}</tool_call>'
    obs, r, term, trunc, info = env.step(ok)
    assert info["parsed_action"] == "look" and info["raw_action"] == ok
    assert info["tool_calls"][0]["name"] == "act"
    text_env = ActionParser(aem_envs.make("aem/Household-v0"))
    text_env.reset(seed=0)
    assert text_env.step("<action>look</action>")[0] == obs  # the same env action, the same answer


def test_hf_model_under_the_tools_protocol_uses_the_text_fallback(tiny_policy):
    seen = []

    class Spy:
        tokenizer = tiny_policy.tokenizer

        def generate(self, requests):
            seen.extend(requests)
            return tiny_policy.generate(requests)

    from aem_gym.agents.types import SamplingParams

    res = RolloutEngine(workers=1, progress=False, protocol="tools").run(
        "aem/Household-v0", [0], Spy(), max_turns=2, sampling=SamplingParams(max_new_tokens=8))
    assert len(res.turns) == 2 and all(r.tools is None for r in seen)  # no native tools: described in text
    system, user = seen[0].messages[0]["content"], seen[0].messages[-1]["content"]
    assert "<tool_call>" in system and '"name": "act"' in system and "do not write <action>" in system
    assert "<action>" not in user and "Act by calling exactly one of the provided functions per turn." in user
    for row in res.turns:  # the tiny model writes no tool call: each turn is an invalid call, recorded
        assert not row.is_action_valid and "tool_error" in row.info and row.prompt_ids


def test_scripted_agents_play_either_protocol():
    from aem_gym.agents import make_policy

    for protocol in ("text", "tools"):
        res = RolloutEngine(workers=1, progress=False, protocol=protocol).run(
            "aem/Household-v0", [0, 1], make_policy("oracle"), max_turns=40)
        assert res.summary()["success_rate"] == 1.0
    with pytest.raises(ValueError, match="protocol"):
        RolloutEngine(protocol="json")
