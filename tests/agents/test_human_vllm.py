from __future__ import annotations

import io

import pytest

from aem_gym.agents import GenerationRequest, RolloutEngine, make_policy, parse_action
from aem_gym.agents.backends.vllm import vllm_available


def test_human_numbers_text_and_tags():
    answers = iter(["1", "open chest", "<action>go west</action>"])
    out = io.StringIO()
    p = make_policy("human", input_fn=lambda prompt: next(answers), out=out)
    reqs = [GenerationRequest([{"role": "user", "content": f"prompt {i}"}],
                              context={"admissible_actions": ["look", "go north"], "turn": i})
            for i in range(3)]
    assert [parse_action(g.text) for g in p.generate(reqs)] == ["go north", "open chest", "go west"]
    shown = out.getvalue()
    assert "prompt 0" in shown and "[1] go north" in shown and "episode 3/3, turn 3" in shown


def test_human_quitting_stops_the_rollout():
    def eof(prompt):
        raise EOFError

    with pytest.raises(EOFError):
        RolloutEngine(progress=False).run("example/TreasureHunt-v0", tasks=[0],
                                          policy=make_policy("human", input_fn=eof, out=io.StringIO()))


@pytest.mark.skipif(vllm_available(), reason="vLLM runs here (tests/vllm cover it)")
def test_vllm_is_import_guarded(tiny_dir):
    with pytest.raises(ImportError, match="make test-vllm"):
        make_policy(f"vllm:{tiny_dir}")


@pytest.mark.gpu
def test_vllm_matches_hf_greedy(tiny_dir, tiny_policy):
    pytest.importorskip("vllm")
    from aem_gym.agents import SamplingParams

    pol = make_policy(f"vllm:{tiny_dir}", gpu_memory_utilization=0.2, enforce_eager=True, entropies=True)
    reqs = [GenerationRequest([{"role": "user", "content": t}],
                              SamplingParams(max_new_tokens=8, temperature=0.0))
            for t in ["look", "go north"]]
    for v, h in zip(pol.generate(reqs), tiny_policy.generate(reqs), strict=True):
        assert v.prompt_ids == h.prompt_ids and v.response_ids == h.response_ids
        assert v.logprobs == pytest.approx(h.logprobs, abs=1e-2)
        assert v.entropies == pytest.approx(h.entropies, abs=1e-2)
