"""AEM as a verl advantage estimator: the layout adapter always, verl's registry where verl is installed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aem_gym.baselines.aem import AEMConfig, apply_aem, mean_response_entropy
from aem_gym.baselines.verl_plugin import aem_scale, stash_entropies, verl_available


def _batch(n=12, t=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, t + 1, (n,), generator=g)
    lengths[0] = 0  # an empty response: excluded from its group's statistics, α = 1
    mask = (torch.arange(t)[None, :] < lengths[:, None]).float()
    ent = torch.rand(n, t, generator=g) * 3
    ent[mask == 0] = 99.0  # padding entropy must not leak into H̄
    uid = np.array([f"u{i % 3}" for i in range(n)], dtype=object)
    rewards = torch.zeros(n, t)
    return mask, ent, uid, rewards


def test_aem_scale_is_the_trainers_aem_in_verls_layout():
    mask, ent, uid, _ = _batch()
    adv = torch.randn(mask.shape[0], 1).expand_as(mask) * mask
    alpha, scaled = aem_scale(adv, mask, ent, uid)
    hbar, ok = mean_response_entropy(ent, mask)
    group = torch.tensor([int(u[1:]) for u in uid])
    _, ref_alpha, _ = apply_aem(adv[:, 0], hbar, group, AEMConfig(enabled=True), include=ok)
    assert torch.allclose(alpha, ref_alpha) and alpha[0] == 1.0
    assert torch.allclose(scaled, adv * ref_alpha[:, None])
    assert (alpha != 1).any()
    for u in set(uid):  # mean α over the non-empty rows of each group is 1
        rows = torch.tensor([x == u for x in uid]) & ok
        assert float(alpha[rows].mean()) == pytest.approx(1.0, abs=1e-5)
    # order does not matter: groups key on uid, not on position
    perm = torch.randperm(len(uid), generator=torch.Generator().manual_seed(1))
    alpha_p, _ = aem_scale(adv[perm], mask[perm], ent[perm], uid[perm.numpy()])
    assert torch.allclose(alpha_p, alpha[perm])


def test_aem_scale_rejects_mismatched_inputs():
    mask, ent, uid, _ = _batch()
    with pytest.raises(ValueError, match="must match"):
        aem_scale(mask, mask, ent[:, :3], uid)
    with pytest.raises(ValueError, match="rollout-group ids"):
        aem_scale(mask, mask, ent, None)


@pytest.mark.skipif(not verl_available(), reason="verl is not installed (it brings its own CUDA stack)")
def test_registered_through_verls_registry():
    from verl.trainer.ppo import core_algos

    from aem_gym.baselines.verl_plugin import register_with_verl

    names = register_with_verl()
    assert "grpo_aem" in names and register_with_verl() == names  # idempotent
    mask, ent, uid, rewards = _batch()
    last = (mask.sum(-1) - 1).clamp_min(0).long()
    score = torch.tensor([float(i % 2) for i in range(len(uid))])
    rewards[torch.arange(len(uid)), last] = score
    base_adv, _ = core_algos.get_adv_estimator_fn("grpo")(token_level_rewards=rewards, response_mask=mask,
                                                         index=uid, config=None)
    fn = core_algos.get_adv_estimator_fn("grpo_aem")
    with pytest.raises(ValueError, match="stash_entropies"):
        fn(token_level_rewards=rewards, response_mask=mask, index=uid, config=None)
    stash_entropies(ent)
    adv, ret = fn(token_level_rewards=rewards, response_mask=mask, index=uid, config=None)
    alpha, expected = aem_scale(base_adv, mask, ent, uid)
    assert torch.allclose(adv, expected) and torch.allclose(ret, adv)
    assert torch.equal(torch.sign(adv), torch.sign(base_adv))  # AEM keeps the sign, changes the size
    adv2, _ = fn(token_level_rewards=rewards, response_mask=mask, index=uid, config=None, entropys=ent)
    assert torch.allclose(adv2, adv)
