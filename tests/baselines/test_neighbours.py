"""AEM's neighbours (EMPG, Clip-Cov, KL-Cov, entropy bonus, token-level AEM): each formula recomputed
independently here, with plain Python loops, and compared with the trainer's vectorised code; then every
part composed with every estimator through the config."""

from __future__ import annotations

import math
import random

import pytest
import torch

from aem_gym.baselines.aem import AEMConfig, apply_aem, apply_token_aem
from aem_gym.baselines.empg import EMPGConfig, empg_advantages
from aem_gym.baselines.losses import LossConfig, policy_loss


def _rows(seed=0, n_groups=3):
    """Rows of several groups, trajectories of 1-4 turns, shuffled (order must not matter); some rows have
    an empty response (excluded from every statistic)."""
    rnd = random.Random(seed)
    rows = []
    for g in range(n_groups):
        for t in range(rnd.randint(2, 4)):
            for k in range(rnd.randint(1, 4)):
                rows.append({"g": g, "t": 10 * g + t, "k": k, "h": rnd.uniform(0.0, 2.0),
                             "a": rnd.choice([-1.2, 0.4, 0.9]), "inc": rnd.random() > 0.1})
    rnd.shuffle(rows)
    return rows


def _tensors(rows):
    col = lambda key, dt=None: torch.tensor([r[key] for r in rows], dtype=dt)  # noqa: E731
    return col("a", torch.float32), col("h", torch.float64), col("inc"), col("g"), col("t"), col("k")


def _empg_reference(rows, k=1.0, k_f=1.0, zeta=0.1, scope="batch", min_range=0.0, center=True):
    """EMPG as the paper writes it, one row at a time."""
    inc = [r for r in rows if r["inc"]]
    key = (lambda r: 0) if scope == "batch" else (lambda r: r["g"])
    lo, hi = {}, {}
    for r in inc:
        lo[key(r)] = min(lo.get(key(r), math.inf), r["h"])
        hi[key(r)] = max(hi.get(key(r), -math.inf), r["h"])

    def hnorm(r):
        rng = hi[key(r)] - lo[key(r)]
        return 0.0 if rng < min_range or rng <= 0 else (r["h"] - lo[key(r)]) / rng

    def flat(r):
        rng = hi[key(r)] - lo[key(r)]
        return rng < min_range or rng <= 0

    mean_w = {}
    for s in lo:
        ws = [math.exp(-k * hnorm(r)) for r in inc if key(r) == s]
        mean_w[s] = sum(ws) / len(ws)
    by_turn = {(r["t"], r["k"]): r for r in rows}
    out = []
    for r in rows:
        g = 1.0 if not r["inc"] or flat(r) else math.exp(-k * hnorm(r)) / mean_w[key(r)]
        nxt = by_turn.get((r["t"], r["k"] + 1))
        f = math.exp(-k_f * hnorm(nxt)) if nxt is not None and nxt["inc"] else 0.0
        out.append(g * r["a"] + zeta * f)
    if center:
        m = sum(v for v, r in zip(out, rows, strict=True) if r["inc"]) / len(inc)
        out = [v - m for v in out]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kw", [{}, {"zeta": 0.05, "k": 2.0, "k_f": 0.5}, {"scope": "group", "center": False},
                                {"min_range": 1.0}])
def test_empg_matches_the_formula(seed, kw):
    rows = _rows(seed)
    adv, h, inc, g, t, k = _tensors(rows)
    new, _, stats = empg_advantages(adv, h, inc, g, t, k, EMPGConfig(enabled=True, **kw))
    assert new.tolist() == pytest.approx(_empg_reference(rows, **kw), abs=1e-5)
    if kw.get("center", True):
        assert float(new[inc].mean()) == pytest.approx(0.0, abs=1e-6)
    assert stats["empg/bonus_mean"].value > 0


def test_empg_with_every_difference_switched_is_aem():
    rows = _rows(5, n_groups=4)
    adv, h, inc, g, t, k = _tensors(rows)
    as_aem = EMPGConfig(enabled=True, scope="group", min_range=0.1, zeta=0.0, center=False)
    empg, coef, _ = empg_advantages(adv, h, inc, g, t, k, as_aem)
    aem, alpha, _ = apply_aem(adv, h, g, AEMConfig(enabled=True), include=inc)
    assert torch.allclose(empg, aem, atol=1e-6) and torch.allclose(coef, alpha, atol=1e-6)
    plain, _, _ = empg_advantages(adv, h, inc, g, t, k, EMPGConfig(enabled=True))
    assert not torch.allclose(plain, aem, atol=1e-3)  # the default EMPG is a different method


def test_token_level_aem_matches_the_formula():
    gen = torch.Generator().manual_seed(0)
    ent = torch.rand(6, 5, generator=gen) * 2
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0],
                         [1, 1, 0, 0, 0], [1, 1, 1, 1, 0], [0, 0, 0, 0, 0]])
    group = torch.tensor([0, 0, 0, 1, 1, 1])
    adv = torch.tensor([1.0, -1.0, 0.5, 2.0, -0.5, 1.0])
    new, alpha, _ = apply_token_aem(adv, ent, mask, group, AEMConfig(enabled=True))
    for gid in (0, 1):
        toks = [(b, j) for b in range(6) for j in range(5) if group[b] == gid and mask[b, j]]
        hs = [float(ent[b, j]) for b, j in toks]
        lo, hi = min(hs), max(hs)
        ws = [math.exp(-(x - lo) / (hi - lo)) for x in hs]
        for (b, j), w in zip(toks, ws, strict=True):
            assert float(alpha[b, j]) == pytest.approx(w / (sum(ws) / len(ws)), rel=1e-5)
            assert float(new[b, j]) == pytest.approx(float(adv[b]) * float(alpha[b, j]), rel=1e-5)
    assert bool((alpha[mask == 0] == 1).all()) and new.shape == (6, 5)


def _surrogate_batch(seed=0):
    """A micro-batch where Cov lands in Clip-Cov's (1, 5) window for several tokens, some of them clipped."""
    gen = torch.Generator().manual_seed(seed)
    b, r = 6, 40
    adv = torch.tensor([4.0, -3.0, 3.5, -4.0, 2.0, 0.5])
    old = -torch.rand(b, r, generator=gen) * 3
    logp = (old + torch.randn(b, r, generator=gen) * 0.3).requires_grad_(True)
    mask = (torch.rand(b, r, generator=gen) > 0.15).float()
    return logp, old, adv, mask


def _ppo_matrix(logp, old, adv, cfg):
    ratio = torch.exp(logp - old)
    a = adv[:, None].expand_as(logp)
    return torch.maximum(-a * ratio, -a * torch.clamp(ratio, 1 - cfg.clip_low, 1 + cfg.clip_high))


def test_clip_cov_detaches_a_random_share_of_the_eligible_tokens():
    logp, old, adv, mask = _surrogate_batch()
    cfg = LossConfig(kl_coef=0.0, dual_clip=None, surrogate="clip_cov", cov_frac=0.05)
    out = policy_loss(logp, old, adv, mask, cfg, generator=torch.Generator().manual_seed(1))
    out.loss.backward()
    grad = logp.grad.clone()
    # the reference: PPO-clip, token by token
    logp2 = logp.detach().clone().requires_grad_(True)
    ref = _ppo_matrix(logp2, old, adv, cfg)
    (ref * mask).sum().div(mask.sum()).backward()
    assert out.loss.item() == pytest.approx(float((ref * mask).sum() / mask.sum()), rel=1e-6)  # value kept
    lp, a = logp.detach(), adv[:, None].expand_as(logp)
    valid = [(i, j) for i in range(6) for j in range(40) if mask[i, j]]
    ma = sum(float(a[i, j]) for i, j in valid) / len(valid)
    ml = sum(float(lp[i, j]) for i, j in valid) / len(valid)
    ratio = torch.exp(lp - old)
    eligible = set()
    for i, j in valid:
        cov = (float(a[i, j]) - ma) * (float(lp[i, j]) - ml)
        clipped = float(-a[i, j] * torch.clamp(ratio[i, j], 0.8, 1.2)) > float(-a[i, j] * ratio[i, j])
        if 1 < cov < 5 and not clipped:
            eligible.add((i, j))
    n = max(int(0.05 * len(valid)), 1)
    assert len(eligible) > n  # the test batch exercises the random choice
    zeroed = {(i, j) for i, j in valid if grad[i, j] == 0 and logp2.grad[i, j] != 0}
    assert len(zeroed) == n and zeroed <= eligible
    keep = torch.ones_like(mask, dtype=torch.bool)
    for i, j in zeroed:
        keep[i, j] = False
    assert torch.allclose(grad[keep], logp2.grad[keep], atol=1e-7)
    assert out.metrics["loss/cov_frac"] == pytest.approx(n / len(valid))


def test_kl_cov_penalises_the_top_cov_tokens_without_clipping():
    logp, old, adv, mask = _surrogate_batch(3)
    cfg = LossConfig(kl_coef=0.0, surrogate="kl_cov", cov_frac=0.02, kl_cov_coef=1.0)
    out = policy_loss(logp, old, adv, mask, cfg)
    lp, a = logp.detach(), adv[:, None].expand_as(logp)
    valid = [(i, j) for i in range(6) for j in range(40) if mask[i, j]]
    ma = sum(float(a[i, j]) for i, j in valid) / len(valid)
    ml = sum(float(lp[i, j]) for i, j in valid) / len(valid)
    covs = sorted(valid, key=lambda ij: -(float(a[ij]) - ma) * (float(lp[ij]) - ml))
    top = set(covs[:max(int(0.02 * len(valid)), 1)])
    total = 0.0
    for i, j in valid:
        v = -float(a[i, j]) * math.exp(float(lp[i, j] - old[i, j]))  # no clipping anywhere
        if (i, j) in top:
            v += abs(float(lp[i, j] - old[i, j]))
        total += v
    assert out.loss.item() == pytest.approx(total / len(valid), rel=1e-5)
    assert out.metrics["loss/cov_frac"] == pytest.approx(len(top) / len(valid))


def test_entropy_bonus_is_subtracted():
    logp, old, adv, mask = _surrogate_batch(4)
    ent = torch.rand(6, 40, generator=torch.Generator().manual_seed(9))
    base = policy_loss(logp, old, adv, mask, LossConfig(kl_coef=0.0))
    bonus = policy_loss(logp, old, adv, mask, LossConfig(kl_coef=0.0, entropy_coef=0.001), entropy=ent)
    h = sum(float(ent[i, j]) for i in range(6) for j in range(40) if mask[i, j]) / float(mask.sum())
    assert bonus.loss.item() == pytest.approx(base.loss.item() - 0.001 * h, rel=1e-6)


PARTS = ["aem", "aem-reverse", "aem-shuffle", "aem-token", "empg", "clip_cov", "kl_cov", "entropy"]


def test_parts_set_their_config_and_compose():
    from aem_gym.baselines.config import load_config

    c = load_config("cpu-tiny-household", overrides={"algo": "rloo+empg+kl_cov"})
    assert c.empg.enabled and not c.aem.enabled and c.loss_config().surrogate == "kl_cov"
    assert c.estimator_name == "rloo" and c.algo == "rloo+empg+kl_cov"
    c = load_config("cpu-tiny-household", overrides={"algo": "grpo+entropy"})
    assert c.loss_config().entropy_coef == 0.001  # the part beats the recipe's entropy_coef: 0.0 ...
    c = load_config("cpu-tiny-household", overrides={"algo": "grpo+entropy"}, sets=["loss.entropy_coef=0.01"])
    assert c.loss_config().entropy_coef == 0.01  # ... and --set beats the part
    c = load_config("cpu-tiny-household", overrides={"algo": "grpo+aem-reverse"})
    assert c.aem.enabled and c.aem.reverse and c.run_name() == "cpu-tiny-household-grpo+aem-reverse-seed0"
    c = load_config("cpu-tiny-household", overrides={"algo": "grpo+empg"}, sets=["empg.scope=group"])
    assert c.empg.scope == "group"  # each difference from AEM is one flag away
    assert load_config(None, sets=["algo=gspo+aem-token"]).aem.level == "token"


@pytest.mark.parametrize("i,part", list(enumerate(PARTS)))
def test_every_part_trains_with_an_estimator(fast_config, i, part):
    """Each part with a different estimator (over the parts, every estimator is used): one real step."""
    from aem_gym.baselines.advantages import ESTIMATORS
    from aem_gym.baselines.trainer import Trainer

    est = sorted(ESTIMATORS)[i % len(ESTIMATORS)]
    tr = Trainer(fast_config(algo=f"{est}+{part}"), progress=False)
    tr.warm_start()
    m = tr.train_step(0)
    assert m["rows"] > 0 and math.isfinite(m["loss/total"]) and m["opt_steps"] >= 1
    if part in ("clip_cov", "kl_cov"):
        assert "loss/cov_frac" in m
    if part == "empg":
        assert "empg/bonus_mean" in m

