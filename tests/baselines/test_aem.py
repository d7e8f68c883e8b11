"""AEM coefficient: hand-computed values, guard, mean 1 per group, sign, broadcast, ablations."""

from __future__ import annotations

import math

import pytest
import torch

from aem_gym.baselines.aem import AEMConfig, aem_alpha, apply_aem, mean_response_entropy


def test_alpha_hand_computed():
    # one group, H̄ = [0, 0.5, 1] -> H̃ = [0, .5, 1], w = [1, e^-.5, e^-1], α = w / mean(w)
    h = torch.tensor([0.0, 0.5, 1.0])
    w = [1.0, math.exp(-0.5), math.exp(-1.0)]
    mw = sum(w) / 3
    alpha = aem_alpha(h, torch.tensor([7, 7, 7]))
    assert alpha.tolist() == pytest.approx([x / mw for x in w], rel=1e-6)
    assert alpha.tolist() == pytest.approx([1.5194, 0.9216, 0.5590], abs=1e-4)
    # min-max makes α invariant to shift and scale of the entropies
    assert aem_alpha(h * 3 + 2, torch.tensor([7, 7, 7])).tolist() == pytest.approx(alpha.tolist(), rel=1e-6)


def test_lambda_and_max_ratio():
    h = torch.tensor([0.2, 0.9, 1.4, 3.0])
    g = torch.zeros(4, dtype=torch.long)
    a1 = aem_alpha(h, g)
    assert float(a1.max() / a1.min()) == pytest.approx(math.e, rel=1e-6)  # λ=1, H̃ in [0,1]
    a2 = aem_alpha(h, g, lam=2.0)
    assert float(a2.max() / a2.min()) == pytest.approx(math.e**2, rel=1e-6)


def test_guard_per_group_and_mean_one():
    h = torch.tensor([1.0, 1.05, 1.02, 0.1, 0.9, 2.0, 5.0])
    g = torch.tensor([0, 0, 0, 1, 1, 1, 2])  # group 0: range .05 < .1 -> all 1; group 2: singleton -> 1
    a = aem_alpha(h, g)
    assert a[:3].tolist() == [1.0, 1.0, 1.0]
    assert a[6].item() == 1.0
    assert a[3:6].mean().item() == pytest.approx(1.0, abs=1e-6)
    assert a[3] > a[4] > a[5]  # low entropy -> larger α
    # the guard threshold is a parameter: with min_range 0.01 group 0 is modulated
    a_small = aem_alpha(h, g, min_range=0.01)
    assert a_small[:3].mean().item() == pytest.approx(1.0, abs=1e-6) and a_small[0] > a_small[1]


def test_mean_one_per_group_random_and_order_invariant():
    gen = torch.Generator().manual_seed(0)
    h = torch.rand(200, generator=gen) * 3
    g = torch.randint(0, 17, (200,), generator=gen) * 1000 + 5  # sparse, non-contiguous ids
    a = aem_alpha(h, g)
    for gid in g.unique():
        sel = g == gid
        if sel.sum() > 1 and (h[sel].max() - h[sel].min()) >= 0.1:
            assert a[sel].mean().item() == pytest.approx(1.0, abs=1e-5)
    perm = torch.randperm(200, generator=gen)
    assert torch.allclose(aem_alpha(h[perm], g[perm]), a[perm])  # keys on ids, not positions
    assert not a.requires_grad


def test_alpha_detached_and_validates_shapes():
    h = torch.tensor([0.1, 1.0], requires_grad=True)
    a = aem_alpha(h, torch.tensor([0, 0]))
    assert not a.requires_grad
    with pytest.raises(ValueError):
        aem_alpha(torch.zeros(3), torch.zeros(2, dtype=torch.long))
    assert aem_alpha(torch.zeros(0), torch.zeros(0, dtype=torch.long)).numel() == 0


def test_excluded_rows_do_not_stretch_range():
    h = torch.tensor([0.0, 1.0, 1.5, float("nan")])  # row 0: empty response placeholder
    g = torch.zeros(4, dtype=torch.long)
    a = aem_alpha(h, g, include=torch.tensor([False, True, True, True]))
    assert a[0].item() == 1.0 and a[3].item() == 1.0
    ref = aem_alpha(torch.tensor([1.0, 1.5]), torch.tensor([0, 0]))
    assert a[1:3].tolist() == pytest.approx(ref.tolist())


def test_sign_kept_and_broadcast_to_tokens():
    adv = torch.tensor([2.0, -1.0, -1.0, 0.5])
    h = torch.tensor([0.1, 0.4, 1.2, 0.8])
    g = torch.zeros(4, dtype=torch.long)
    new, alpha, stats = apply_aem(adv, h, g, AEMConfig(enabled=True))
    assert torch.equal(torch.sign(new), torch.sign(adv))
    assert torch.allclose(new, adv * alpha)
    assert stats.alpha_min == pytest.approx(float(alpha.min())) and stats.guarded_frac == 0.0
    # per-turn value reaches every response token of the turn, and nothing else
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0]])
    tok = new[:, None] * mask
    assert tok[0].tolist() == pytest.approx([new[0].item(), new[0].item(), 0.0])
    assert tok[3].tolist() == [0.0, 0.0, 0.0]


def test_disabled_is_identity():
    adv = torch.tensor([1.0, -1.0])
    new, alpha, _ = apply_aem(adv, torch.tensor([0.0, 5.0]), torch.tensor([0, 0]), AEMConfig(enabled=False))
    assert new is adv and alpha.tolist() == [1.0, 1.0]


def test_ablations_reverse_shuffle_scope():
    h = torch.tensor([0.1, 0.5, 1.5, 0.2, 0.3, 2.0])
    g = torch.tensor([0, 0, 0, 1, 1, 1])
    traj = torch.tensor([0, 0, 1, 2, 3, 3])
    adv = torch.ones(6)
    _, a, _ = apply_aem(adv, h, g, AEMConfig(enabled=True))
    _, ar, _ = apply_aem(adv, h, g, AEMConfig(enabled=True, reverse=True))
    assert a[0] > a[2] and ar[0] < ar[2]  # reversed: high entropy gets the larger α
    gen = torch.Generator().manual_seed(3)
    _, ash, _ = apply_aem(adv, h, g, AEMConfig(enabled=True, shuffle=True), generator=gen)
    for gid in (0, 1):  # same multiset of α within each group
        assert sorted(ash[g == gid].tolist()) == pytest.approx(sorted(a[g == gid].tolist()))
    _, ab, stats_b = apply_aem(adv, h, g, AEMConfig(enabled=True, scope="batch"))
    assert ab.mean().item() == pytest.approx(1.0, abs=1e-6) and stats_b.guarded_frac == 0.0
    _, at, stats_t = apply_aem(adv, h, g, AEMConfig(enabled=True, scope="trajectory"), traj=traj)
    # trajectory 1 and 2 are singletons, trajectory 0 has range .4 -> 2 of 4 units modulated
    assert at[2].item() == 1.0 and at[3].item() == 1.0 and at[0] > at[1]
    assert stats_t.guarded_frac == pytest.approx(0.5)
    with pytest.raises(ValueError):
        apply_aem(adv, h, g, AEMConfig(enabled=True, scope="trajectory"))


def test_mean_response_entropy_uses_mask():
    ent = torch.tensor([[1.0, 3.0, 100.0], [5.0, 5.0, 5.0], [9.0, 9.0, 9.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 0]])
    hbar, nonempty = mean_response_entropy(ent, mask)
    assert hbar.tolist() == [2.0, 5.0, 0.0] and nonempty.tolist() == [True, True, False]
