from __future__ import annotations

import pytest

from aem_gym.agents import (
    GenerationRequest,
    SamplingParams,
    make_policy,
    parse_action,
    policy_kinds,
    register_policy,
)
from aem_gym.agents.policy import check_generations, split_spec
from aem_gym.agents.types import Generation


def req(acts=None, turn=0, oracle=None, seed=None):
    ctx = {"admissible_actions": acts, "turn": turn, "env_id": "x/Y-v0"}
    if oracle is not None:
        ctx["oracle"] = oracle
    return GenerationRequest(messages=[{"role": "user", "content": "hi"}], sampling=SamplingParams(seed=seed),
                             context=ctx)


def test_split_spec_and_kinds():
    assert split_spec("hf:/a/b:c") == ("hf", "/a/b:c")
    assert split_spec(" Oracle ") == ("oracle", "")
    for bad in ["", "   ", None, 3]:
        with pytest.raises(ValueError):
            split_spec(bad)
    assert {"hf", "vllm", "openai", "scripted", "oracle", "random", "human"} <= set(policy_kinds())


def test_unknown_kind_and_script_are_clear_errors():
    with pytest.raises(ValueError, match="unknown agent kind 'nope'"):
        make_policy("nope:x")
    with pytest.raises(ValueError, match="unknown script 'nope'"):
        make_policy("scripted:nope")
    with pytest.raises(ValueError, match="needs a model directory"):
        make_policy("hf:")


def test_register_policy_decorator():
    class Echo:
        def __init__(self, arg):
            self.arg = arg

        def generate(self, requests):
            return [Generation(text=self.arg) for _ in requests]

    register_policy("echo-test")(lambda arg, **kw: Echo(arg))
    p = make_policy("echo-test:<action>look</action>")
    assert [g.text for g in p.generate([req(), req()])] == ["<action>look</action>"] * 2
    with pytest.raises(ValueError):
        register_policy("bad:kind")


def test_scripted_first_cycle_invalid():
    first, cycle = make_policy("scripted:first"), make_policy("scripted:cycle")
    inv = make_policy("scripted:invalid")
    acts = ["look", "go north", "take key"]
    assert parse_action(first.generate([req(acts)])[0].text) == "look"
    assert [parse_action(cycle.generate([req(acts, turn=t)])[0].text) for t in range(4)] == [*acts, "look"]
    assert parse_action(inv.generate([req(acts)])[0].text) not in acts
    assert parse_action(make_policy("scripted:garbage").generate([req(acts)])[0].text) is None


def test_random_is_seeded_and_admissible():
    acts = [f"a{i}" for i in range(20)]
    p = make_policy("random", seed=3)
    picks = [parse_action(g.text) for g in p.generate([req(acts, seed=s) for s in range(50)])]
    assert set(picks) <= set(acts) and len(set(picks)) > 5
    again = [parse_action(g.text)
             for g in make_policy("random", seed=99).generate([req(acts, seed=s) for s in range(50)])]
    assert picks == again  # per-request seeds win over the policy's own RNG
    unseeded = [parse_action(g.text) for g in make_policy("random", seed=7).generate([req(acts)] * 30)]
    assert unseeded == [parse_action(g.text)
                        for g in make_policy("random", seed=7).generate([req(acts)] * 30)]


def test_oracle_uses_context_and_refuses_to_fake():
    p = make_policy("oracle")
    assert parse_action(p.generate([req(["x"], oracle=lambda: "take key")])[0].text) == "take key"
    with pytest.raises(RuntimeError, match="no oracle action"):
        p.generate([req(["x"], oracle=lambda: None)])
    fb = make_policy("oracle", fallback_random=True)
    assert parse_action(fb.generate([req(["x"], oracle=lambda: None)])[0].text) == "x"


def test_check_generations():
    with pytest.raises(RuntimeError, match="1 generations for 2 requests"):
        check_generations([req(), req()], [Generation(text="")])
    with pytest.raises(TypeError):
        check_generations([req()], ["text"])
