"""Data-parallel training on CPU with gloo: whole groups per rank, exact gradients, identical replicas."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp

from aem_gym.baselines.distributed import rank_groups, shard_by_group
from tests.distributed._workers import flat_params, prepared_batch, records, update_worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_shard_by_group_keeps_groups_whole_and_balanced(world):
    g = torch.Generator().manual_seed(world)
    sizes = torch.randint(1, 30, (11,), generator=g).tolist()
    keys = [f"g{i}" for i, n in enumerate(sizes) for _ in range(n)]
    perm = torch.randperm(len(keys), generator=g).tolist()  # groups interleaved, as after reordering
    keys = [keys[i] for i in perm]
    shards = shard_by_group(keys, world)
    assert sorted(i for s in shards for i in s) == list(range(len(keys)))  # every row exactly once
    owner = {}
    for r, s in enumerate(shards):
        assert s == sorted(s) and s
        for i in s:
            assert owner.setdefault(keys[i], r) == r  # a group never spans two ranks
    loads = [len(s) for s in shards]
    assert max(loads) - min(loads) <= max(sizes)  # greedy balance bound
    assert shard_by_group(keys, world) == shards  # deterministic
    with pytest.raises(ValueError, match="without splitting"):
        shard_by_group(["a", "a", "b"], 3)


def test_rank_groups_partition():
    assert [rank_groups(16, r, 3) for r in range(3)] == [
        list(range(0, 5)), list(range(5, 10)), list(range(10, 16))]
    with pytest.raises(ValueError):
        rank_groups(1, 0, 2)


def test_aem_alpha_per_rank_equals_full_batch(tiny_model_dir):
    from aem_gym.agents.tiny import load_tiny_model

    model, _ = load_tiny_model(tiny_model_dir)
    rows = records(n_groups=5)
    full = prepared_batch(model, rows)
    key = [(r.traj_uid, r.turn_idx) for r in rows]
    ref = dict(zip(key, full.alpha.tolist(), strict=True))
    ref_adv = dict(zip(key, full.advantages.tolist(), strict=True))
    assert max(ref.values()) > 1.05 and min(ref.values()) < 0.95  # α is not trivially 1
    for shard in shard_by_group([r.group_uid for r in rows], 2):
        part = prepared_batch(model, [rows[i] for i in shard])
        for i, a, adv in zip(shard, part.alpha.tolist(), part.advantages.tolist(), strict=True):
            assert a == pytest.approx(ref[key[i]], abs=1e-6)
            assert adv == pytest.approx(ref_adv[key[i]], abs=1e-5)
    # the failure this prevents: half a group on a rank changes its min-max and mean, hence α
    g0 = [i for i, r in enumerate(rows) if r.group_uid == "g0"]
    half = prepared_batch(model, [rows[i] for i in g0[: len(g0) // 2 + 1]])
    assert any(abs(a - ref[key[i]]) > 1e-3 for i, a in zip(g0, half.alpha.tolist(), strict=False))


def _spawn(tmp_path, model_dir, strategy, steps=3, world=2):
    mp.spawn(update_worker, args=(world, _free_port(), str(model_dir), str(tmp_path), strategy, steps),
             nprocs=world, join=True)
    return [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]


def _single_process_reference(model_dir, steps):
    from aem_gym.agents.tiny import load_tiny_model
    from aem_gym.baselines.losses import LossConfig
    from aem_gym.baselines.update import UpdateConfig, ppo_update

    torch.manual_seed(0)
    model = load_tiny_model(model_dir)[0].double()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    rows, alphas = records(), []
    for _ in range(steps):
        b = prepared_batch(model, rows)
        alphas.append({(r.traj_uid, r.turn_idx): float(a) for r, a in zip(rows, b.alpha, strict=True)})
        ppo_update(model, opt, b, LossConfig(kl_coef=0.0),
                   UpdateConfig(mini_batch_size=64, micro_batch_size=2))
    return flat_params(model), alphas


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_ranks_stay_identical_and_match_one_process(tmp_path, tiny_model_dir, strategy):
    from aem_gym.agents.tiny import load_tiny_model

    start = flat_params(load_tiny_model(tiny_model_dir)[0])
    out = _spawn(tmp_path, tiny_model_dir, strategy)
    assert set(out[0]["groups"]).isdisjoint(out[1]["groups"])
    assert len(out[0]["groups"]) + len(out[1]["groups"]) == 4
    assert torch.equal(out[0]["params"], out[1]["params"])  # replicas bit-identical after 3 updates
    assert not torch.allclose(out[0]["params"], start)  # and they did move
    ref, ref_alphas = _single_process_reference(tiny_model_dir, 3)
    # Exact gradient sync: 2 ranks on disjoint whole groups == 1 process on the union batch. Both run in
    # float64 and differ only in summation order (micro-batch accumulation vs all-reduce, padding widths),
    # i.e. relative rounding errors of a few u = 2^-53 = 1.1e-16 per gradient entry. AdamW normalises
    # each entry (m/sqrt(v), scale-free), so each of the 3 steps (lr 1e-2, |params| <= ~1) moves a
    # parameter by at most ~1e-2 with an error of a modest multiple of lr*u; measured 5e-14 for both
    # strategies on 1 and 2 threads. atol 1e-10 is far above that and far below any sync error: not
    # undoing DDP's gradient averaging (loss scale 1 instead of world size) moves the parameters by 1e-2.
    # In float32 (u = 6e-8) the same reduction-order noise reached 2e-5 on some CPUs, since AdamW turns
    # tiny gradients into lr-sized steps: no tolerance there separates noise from a scale error.
    assert torch.allclose(out[0]["params"], ref, atol=1e-10, rtol=0)
    # α per rank == α of the full batch. α is returned in float32 (agents/aem.py); the float64 weights
    # differ by ~1e-14, so α can differ by at most one float32 rounding: |α| < 3 -> 2.4e-7.
    for step in range(3):
        for rank in range(2):
            for k, a in out[rank]["alphas"][step].items():
                assert a == pytest.approx(ref_alphas[step][k], abs=1e-6)
