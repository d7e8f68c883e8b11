"""Constrained decoding (agents.constrained): every reply names an admissible action, the statistics are the
masked distribution's, and the trainer's forward pass reproduces them from the recorded masks."""

from __future__ import annotations

import math

import pytest
import torch


def test_trie_allows_exactly_the_continuations_of_the_replies():
    from aem_gym.agents.constrained import ReplyTrie

    t = ReplyTrie([[1, 2, 3], [1, 2, 4], [1, 5]])
    assert t.allowed([]) == [1] and t.allowed([1]) == [2, 5] and t.allowed([1, 2]) == [3, 4]
    assert t.allowed([1, 2, 3]) is None and t.allowed([9]) is None


def test_mask_logits_keeps_allowed_ids_and_leaves_free_positions_alone():
    from aem_gym.agents.constrained import MASKED, allowed_tensor, mask_logits

    logits = torch.zeros(2, 2, 6)
    allowed = allowed_tensor([[[0, 3], [5]], None], width=2)
    assert allowed.shape == (2, 2, 2) and allowed[1].eq(-1).all()
    out = mask_logits(logits, allowed)
    assert out[0, 0].tolist() == [0, MASKED, MASKED, 0, MASKED, MASKED]  # token 0 allowed despite -1 padding
    assert out[0, 1].tolist() == [MASKED] * 5 + [0]
    assert out[1].eq(0).all()
    p = torch.log_softmax(out, -1)
    assert torch.isfinite(-(p.exp() * p).sum(-1)).all()


def _requests(actions_per_row, temperature):
    from aem_gym.agents.prompts import PromptState, prompt_builder
    from aem_gym.agents.types import GenerationRequest, SamplingParams

    b = prompt_builder("aem/Household-v0", k=0)
    out = []
    for i, acts in enumerate(actions_per_row):
        s = PromptState("aem/Household-v0", task="Your task is to: put a mug in fridge.",
                        observation="You see.", admissible_actions=acts)
        params = SamplingParams(max_new_tokens=24, temperature=temperature, seed=i, constrain="admissible")
        out.append(GenerationRequest(b.build(s), params, context={"admissible_actions": acts}))
    return out


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_hf_constrained_replies_are_admissible_with_masked_statistics(tiny_policy, temperature):
    from aem_gym.agents.prompts import parse_action

    rows = [["go to fridge 1", "go to cabinet 2", "take mug 1 from countertop 1", "look"],
            ["open fridge 1", "close fridge 1"], ["inventory"]] * 3
    gens = tiny_policy.generate(_requests(rows, temperature))
    for acts, g in zip(rows, gens, strict=True):
        # a random-init model still only writes admissible replies
        assert parse_action(g.text) in acts, g.text
        assert g.finish_reason == "stop" and len(g.allowed_token_ids) == len(g.response_ids)
        for tok, ok, lp, h in zip(g.response_ids, g.allowed_token_ids, g.logprobs, g.entropies, strict=True):
            assert tok in ok
            if len(ok) == 1:  # forced: probability 1, entropy 0
                assert lp == pytest.approx(0.0, abs=1e-6) and h == pytest.approx(0.0, abs=1e-6)
            else:
                assert lp <= 1e-6 and 0.0 < h <= math.log(len(ok)) + 1e-5
    assert gens[2].allowed_token_ids and all(len(ok) == 1 for ok in gens[2].allowed_token_ids)  # one action


def test_unknown_constraint_is_a_clear_error(tiny_policy):
    reqs = _requests([["look"]], 1.0)
    reqs[0].sampling.constrain = "json"
    with pytest.raises(ValueError, match="constrain"):
        tiny_policy.generate(reqs)


def test_trainer_forward_reproduces_constrained_rollout_statistics(tiny_dir):
    """Rollout through the engine with constrained sampling, collate, old-policy pass: same log-probs and
    entropies as at sampling time (the PPO ratio starts at exactly 1), and no invalid actions."""
    from aem_gym.agents.backends.hf import HFPolicy
    from aem_gym.agents.rollout import RolloutEngine
    from aem_gym.agents.types import SamplingParams
    from aem_gym.baselines.batch import collate
    from aem_gym.baselines.forward import old_policy_pass

    policy = HFPolicy.from_pretrained(tiny_dir, device="cpu", seed=0)
    res = RolloutEngine(workers=1, history_k=0).run(
        "aem/Household-v0", [(None, 3)], policy, group_size=2, max_turns=3,
        sampling=SamplingParams(max_new_tokens=24, temperature=1.0, constrain="admissible"), seed=0)
    recs = [t for tr in res.trajectories for t in tr.turns]
    assert recs and all(r.is_action_valid and r.allowed_token_ids for r in recs)
    batch = collate(recs, policy.pad_id)
    out = old_policy_pass(policy.model, batch, micro_batch=4, temperature=1.0, with_entropy=True)
    m = batch.response_mask.bool()
    want_lp = torch.zeros_like(out.logp)
    want_h = torch.zeros_like(out.logp)
    for i, r in enumerate(recs):
        want_lp[i, :len(r.logprobs)] = torch.tensor(r.logprobs)
        want_h[i, :len(r.entropies)] = torch.tensor(r.entropies)
    assert torch.allclose(out.logp[m], want_lp[m], atol=1e-4)
    assert torch.allclose(out.entropy[m], want_h[m], atol=1e-4)
    free = collate([type(r)(**{**r.__dict__, "allowed_token_ids": None}) for r in recs], policy.pad_id)
    unmasked = old_policy_pass(policy.model, free, micro_batch=4, temperature=1.0, with_entropy=True)
    assert (unmasked.logp[m] <= out.logp[m] + 1e-6).all()
    assert unmasked.entropy[m].mean() > out.entropy[m].mean()
