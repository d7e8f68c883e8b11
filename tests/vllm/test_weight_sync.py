"""The trainer's weights in a live vLLM engine (``baselines.vllm_sync``) on CPU: after every sync the
engine's log-probs are the trainer's, and two RL steps with ``distributed.rollout: vllm`` train like the
same steps with the trainer's own HF rollouts."""

from __future__ import annotations

import torch

from aem_gym.agents.types import GenerationRequest, SamplingParams
from tests.vllm.conftest import GPU_SHARE, LOGPROB_ATOL, teacher_forced

RECIPE = "cpu-tiny-household"


def _gap(policy, model, states, seed: int) -> float:
    """Mean |engine log-prob − trainer-model log-prob| over sampled reply tokens (constrained, T = 1)."""
    reqs = [GenerationRequest(m, SamplingParams(max_new_tokens=20, temperature=1.0, seed=seed + i,
                                                constrain="admissible"), context={"admissible_actions": a})
            for i, (m, a) in enumerate(states)]
    diffs = []
    for g in policy.generate(reqs):
        ref = teacher_forced(model, g.prompt_ids, g.response_ids, 1.0, g.allowed_token_ids)
        diffs += [abs(a - b) for a, b in zip(g.logprobs, ref, strict=True)]
    return sum(diffs) / len(diffs)


def test_engine_follows_the_trainer(released_dir, household_states, tmp_path):
    from aem_gym.agents.tiny import load_tiny_model
    from aem_gym.baselines.config import load_config
    from aem_gym.baselines.vllm_sync import VLLMWeightSync, make_vllm_policy

    cfg = load_config(RECIPE, overrides={"model.init": str(released_dir), "distributed.vllm": GPU_SHARE})
    model, tok = load_tiny_model(released_dir)
    pol = make_vllm_policy(cfg, model, tok, tmp_path / "engine")
    try:
        sync = VLLMWeightSync(pol, model)
        assert _gap(pol, model, household_states, seed=0) < LOGPROB_ATOL
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():  # an update the engine has not seen yet
            for p in model.parameters():
                p.add_(0.1 * p.abs().mean() * torch.randn(p.shape, generator=gen))
        stale = _gap(pol, model, household_states, seed=100)
        assert stale > 10 * LOGPROB_ATOL, stale  # the check below can fail
        sync.push()
        assert _gap(pol, model, household_states, seed=200) < LOGPROB_ATOL
    finally:
        pol.close()
