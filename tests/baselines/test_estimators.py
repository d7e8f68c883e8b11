"""Each estimator on a hand-made batch (hand-checked vectors)."""

from __future__ import annotations

import pytest
import torch

from aem_gym.baselines.advantages import (
    ESTIMATORS,
    AdvantageInput,
    EstimatorConfig,
    compute_advantages,
    get_estimator,
    register_estimator,
    step_returns,
)


def _batch(rewards, turns, group=None, penalties=None):
    """One trajectory per entry of ``rewards`` (won reward on its last turn) with ``turns`` rows each."""
    g, t, k, r, er = [], [], [], [], []
    for i, (rew, n) in enumerate(zip(rewards, turns, strict=True)):
        for j in range(n):
            g.append(0 if group is None else group[i])
            t.append(i)
            k.append(j)
            er.append(rew if j == n - 1 else 0.0)
            pen = penalties[i][j] if penalties else 0.0
            r.append(er[-1] + pen)
    return AdvantageInput(torch.tensor(g), torch.tensor(t), torch.tensor(k), torch.tensor(r),
                          torch.tensor(er))


def _per_traj(adv, inp):
    return [adv[inp.traj == i].unique().tolist() for i in inp.traj.unique()]


def test_registry_has_all_and_rejects_duplicates():
    assert {"grpo", "rloo", "dapo", "gspo", "gigpo"} <= set(ESTIMATORS)
    assert (get_estimator("dapo").loss["clip_high"] == 0.28
            and get_estimator("dapo").sampler["dynamic_sampling"])
    assert get_estimator("gspo").loss["ratio_level"] == "sequence"
    with pytest.raises(ValueError, match="estimator .grpo. is already registered"):
        register_estimator("grpo")(lambda inp, cfg: inp.reward)
    with pytest.raises(ValueError, match="unknown estimator"):
        get_estimator("ppo2")


def test_grpo_trajectory_level_not_length_biased():
    inp = _batch([10, 0, 0, 0], [2, 5, 5, 5])
    adv = compute_advantages("grpo", inp)
    assert _per_traj(adv, inp)[0] == pytest.approx([1.4999997])
    assert _per_traj(adv, inp)[1] == pytest.approx([-0.4999999])


def test_grpo_row_level_parity():
    inp = _batch([10, 0, 0, 0], [2, 5, 5, 5])
    adv = compute_advantages("grpo", inp, EstimatorConfig(stats_level="row"))
    assert adv[0].item() == pytest.approx(2.65684, abs=1e-4)
    assert adv[-1].item() == pytest.approx(-0.35425, abs=1e-4)


def test_grpo_all_equal_singleton_and_dr_grpo():
    inp = _batch([1, 1, 1], [1, 2, 1])
    assert compute_advantages("grpo", inp).abs().max().item() < 1e-6
    single = _batch([3.0], [2])
    assert compute_advantages("grpo", single).tolist() == pytest.approx([3.0, 3.0], rel=1e-5)  # verl: raw
    dr = compute_advantages("grpo", _batch([10, 0, 0, 0], [1, 1, 1, 1]), EstimatorConfig(norm_by_std=False))
    assert dr.tolist() == pytest.approx([7.5, -2.5, -2.5, -2.5])


def test_two_groups_are_independent_and_order_free():
    inp = _batch([10, 0, 4, 2], [1, 2, 1, 1], group=[5, 5, 9, 9])
    adv = compute_advantages("grpo", inp)
    std = (50.0) ** 0.5  # unbiased std of {10, 0}
    assert adv[0].item() == pytest.approx(5 / (std + 1e-6), rel=1e-6)
    assert adv[3].item() == pytest.approx(1 / (2**0.5 + 1e-6), rel=1e-6)
    perm = torch.tensor([4, 2, 0, 3, 1])
    shuffled = AdvantageInput(inp.group[perm], inp.traj[perm], inp.turn[perm], inp.reward[perm],
                              inp.env_reward[perm])
    assert torch.allclose(compute_advantages("grpo", shuffled), adv[perm])


def test_rloo_values_and_singleton():
    inp = _batch([10, 0, 0, 0], [1, 3, 1, 1])
    assert [v[0] for v in _per_traj(compute_advantages("rloo", inp), inp)] == pytest.approx(
        [10, -10 / 3, -10 / 3, -10 / 3], rel=1e-6)
    assert compute_advantages("rloo", _batch([5.0], [3])).tolist() == [0.0, 0.0, 0.0]
    row = compute_advantages("rloo", _batch([10, 0, 0, 0], [2, 5, 5, 5]), EstimatorConfig(stats_level="row"))
    assert row[0].item() == pytest.approx(9.375) and row[-1].item() == pytest.approx(-1.25)


def test_dapo_gspo_share_grpo_advantage():
    inp = _batch([10, 0, 3, 0], [1, 2, 3, 1])
    ref = compute_advantages("grpo", inp)
    assert torch.equal(compute_advantages("dapo", inp), ref)
    assert torch.equal(compute_advantages("gspo", inp), ref)


def test_invalid_penalty_enters_scores():
    inp = _batch([0, 0], [2, 2], penalties=[[-0.1, 0.0], [0.0, 0.0]])
    adv = compute_advantages("grpo", inp)
    assert adv[0] < 0 < adv[2]  # the trajectory with the invalid action is worse


def _gigpo_batch():
    # §3.5.7: τ1 S0,S1 (0,10); τ2 S0,S2,S2 (0,0,0); τ3 S0,S2,S1 (0,0,10)
    anchors = {"S0": 0, "S1": 1, "S2": 2}
    rows = [(0, 0, "S0", 0), (0, 1, "S1", 10), (1, 0, "S0", 0), (1, 1, "S2", 0), (1, 2, "S2", 0),
            (2, 0, "S0", 0), (2, 1, "S2", 0), (2, 2, "S1", 10)]
    t = torch.tensor([r[0] for r in rows])
    k = torch.tensor([r[1] for r in rows])
    sg = torch.tensor([anchors[r[2]] for r in rows])
    rew = torch.tensor([float(r[3]) for r in rows])
    return AdvantageInput(torch.zeros(8, dtype=torch.long), t, k, rew, step_group=sg)


def test_step_returns():
    inp = _gigpo_batch()
    assert step_returns(inp, 0.95).tolist() == pytest.approx([9.5, 10, 0, 0, 0, 9.025, 9.5, 10])


def test_gigpo_mean_norm_vector():
    inp = _gigpo_batch()
    cfg = EstimatorConfig(gigpo_mode="mean_norm", gamma=0.95)
    adv = compute_advantages("gigpo", inp, cfg)
    ep = {0: 10 - 20 / 3, 1: -20 / 3, 2: 10 - 20 / 3}  # trajectory level
    step = [3.325, 0.0, -6.175, -3.1667, -3.1667, 2.85, 6.3333, 0.0]
    expect = [ep[int(t)] + s for t, s in zip(inp.traj, step, strict=True)]
    assert adv.tolist() == pytest.approx(expect, abs=1e-3)
    row = compute_advantages("gigpo", inp, EstimatorConfig(gigpo_mode="mean_norm", stats_level="row"))
    assert (row - torch.tensor(step)).tolist() == pytest.approx(
        [3.75, 3.75, -6.25, -6.25, -6.25, 3.75, 3.75, 3.75], abs=1e-3)


def test_gigpo_mean_std_norm_step_part():
    inp = _gigpo_batch()
    cfg = EstimatorConfig(gigpo_mode="mean_std_norm", step_weight=1.0)
    full = compute_advantages("gigpo", inp, cfg)
    episode = compute_advantages("gigpo", inp, EstimatorConfig(gigpo_mode="mean_std_norm", step_weight=0.0))
    step = (full - episode).tolist()
    assert step == pytest.approx([0.6211, 0.0, -1.1536, -0.5774, -0.5774, 0.5324, 1.1547, 0.0], abs=1e-3)
    with pytest.raises(ValueError, match="step_group"):
        compute_advantages("gigpo", AdvantageInput(inp.group, inp.traj, inp.turn, inp.reward))
