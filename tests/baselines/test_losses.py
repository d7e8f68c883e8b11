"""PPO-clip / GSPO / KL losses against hand-checked values."""

from __future__ import annotations

import math

import pytest
import torch

from aem_gym.baselines.losses import Denominators, LossConfig, agg_loss, kl_penalty, policy_loss


def test_kl_estimators():
    lp, ref = torch.tensor([-1.0]), torch.tensor([-1.5])
    assert kl_penalty(lp, ref, "k1").item() == pytest.approx(0.5)
    assert kl_penalty(lp, ref, "k2").item() == pytest.approx(0.125)
    assert kl_penalty(lp, ref, "k3").item() == pytest.approx(0.1065307, abs=1e-6)
    big = torch.tensor([30.0], requires_grad=True)
    v = kl_penalty(big, torch.tensor([0.0]), "k3")
    assert v.item() == pytest.approx(10.0)  # clamped ...
    v.backward()
    assert big.grad.item() == 0.0  # ... and no gradient through the clamp
    with pytest.raises(ValueError):
        kl_penalty(lp, ref, "k9")


def _one(adv, ratio, cfg):
    lp = torch.tensor([[math.log(ratio)]], requires_grad=True)
    out = policy_loss(lp, torch.zeros(1, 1), torch.tensor([adv]), torch.ones(1, 1), cfg)
    out.loss.backward()
    return out, lp.grad.item()


def test_dual_clip_and_clip_high():
    out, grad = _one(-1.0, 5.0, LossConfig(clip_low=0.2, clip_high=0.2, dual_clip=3.0, kl_coef=0))
    assert out.loss.item() == pytest.approx(3.0) and grad == 0.0
    assert out.metrics["loss/lower_clip_frac"] == 1.0
    out, grad = _one(1.0, 1.5, LossConfig(clip_high=0.28, kl_coef=0))
    assert out.loss.item() == pytest.approx(-1.28) and grad == 0.0 and out.metrics["loss/clip_frac"] == 1.0
    out, grad = _one(1.0, 1.1, LossConfig(clip_high=0.28, kl_coef=0))
    assert out.loss.item() == pytest.approx(-1.1) and grad == pytest.approx(-1.1)  # inside: -A r dlogp


def test_gspo_sequence_ratio_clipped():
    lp = torch.tensor([[0.01, -0.02, 0.04, 5.0]], requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0]])
    cfg = LossConfig(ratio_level="sequence", clip_low=3e-4, clip_high=4e-4, agg="seq-mean-token-mean",
                     kl_coef=0)
    out = policy_loss(lp, torch.zeros(1, 4), torch.tensor([2.0]), mask, cfg)
    assert out.loss.item() == pytest.approx(-2.0 * 1.0004, rel=1e-6)
    unclipped = policy_loss(lp, torch.zeros(1, 4), torch.tensor([2.0]), mask,
                            LossConfig(ratio_level="sequence", clip_low=1, clip_high=1,
                                       agg="seq-mean-token-mean",
                                       kl_coef=0))
    assert unclipped.loss.item() == pytest.approx(-2.0 * math.exp(0.01), rel=1e-6)
    unclipped.loss.backward()
    # GSPO-token gradient: s * A * (1/|y|) on every masked token, nothing on the masked-out one
    assert lp.grad[0, :3].tolist() == pytest.approx([-2.0 * math.exp(0.01) / 3] * 3, rel=1e-5)
    assert lp.grad[0, 3].item() == 0.0


def test_aggregation_modes_and_microbatch_denominators():
    mat = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    assert agg_loss(mat, mask, "token-mean").item() == pytest.approx(10 / 4)
    assert agg_loss(mat, mask, "seq-mean-token-mean").item() == pytest.approx((2 + 4) / 2)
    assert agg_loss(mat, mask, "seq-mean-token-sum").item() == pytest.approx(10 / 2)
    assert agg_loss(mat, mask, "seq-mean-token-sum-norm").item() == pytest.approx(10 / 3)
    d = Denominators.of(mask)
    split = agg_loss(mat[:1], mask[:1], "token-mean", d) + agg_loss(mat[1:], mask[1:], "token-mean", d)
    assert split.item() == pytest.approx(10 / 4)  # micro-batches add up to the mini-batch token mean
    w = torch.tensor([0.5, 1.0])
    assert agg_loss(mat, mask, "token-mean", weight=w).item() == pytest.approx((3 + 4) / 4)
    with pytest.raises(ValueError):
        agg_loss(mat, mask, "mean-of-everything")


def test_empty_rows_no_nan_and_kl_entropy_terms():
    lp = torch.zeros(2, 3, requires_grad=True)
    mask = torch.tensor([[0, 0, 0], [1, 1, 0]])
    out = policy_loss(lp, torch.zeros(2, 3), torch.tensor([1.0, -1.0]), mask, LossConfig(kl_coef=0.5),
                      ref_logp=torch.full((2, 3), -0.5), entropy=torch.ones(2, 3))
    assert torch.isfinite(out.loss) and out.metrics["loss/kl"] > 0
    ent = policy_loss(lp, torch.zeros(2, 3), torch.tensor([0.0, 0.0]), mask,
                      LossConfig(kl_coef=0, entropy_coef=0.1),
                      entropy=torch.ones(2, 3))
    assert ent.loss.item() == pytest.approx(-0.1)
    with pytest.raises(ValueError):
        LossConfig(dual_clip=0.5)
