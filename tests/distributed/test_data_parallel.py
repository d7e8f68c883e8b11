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
    assert [rank_groups(16, r, 3) for r in range(3)] == [list(range(0, 5)), list(range(5, 10)), list(range(10, 16))]
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
    model, _ = load_tiny_model(model_dir)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    rows, alphas = records(), []
    for _ in range(steps):
        b = prepared_batch(model, rows)
        alphas.append({(r.traj_uid, r.turn_idx): float(a) for r, a in zip(rows, b.alpha, strict=True)})
        ppo_update(model, opt, b, LossConfig(kl_coef=0.0), UpdateConfig(mini_batch_size=64, micro_batch_size=2))
    return flat_params(model), alphas


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_ranks_stay_identical_and_match_one_process(tmp_path, tiny_model_dir, strategy):
    from aem_gym.agents.tiny import load_tiny_model

    start = flat_params(load_tiny_model(tiny_model_dir)[0])
    out = _spawn(tmp_path, tiny_model_dir, strategy)
    assert set(out[0]["groups"]).isdisjoint(out[1]["groups"]) and len(out[0]["groups"]) + len(out[1]["groups"]) == 4
    assert torch.equal(out[0]["params"], out[1]["params"])  # replicas bit-identical after 3 updates
    assert not torch.allclose(out[0]["params"], start)  # and they did move
    ref, ref_alphas = _single_process_reference(tiny_model_dir, 3)
    # exact gradient sync: 2 ranks on disjoint whole groups == 1 process on the union batch
    assert torch.allclose(out[0]["params"], ref, atol=2e-5, rtol=1e-4)
    # α per rank == α of the full batch: exactly at step 0 (same weights); later the weights differ by
    # float summation order only, which the min-max of nearly flat tiny-model entropies amplifies a little
    for step, tol in [(0, 1e-6), (1, 5e-3), (2, 5e-3)]:
        for rank in range(2):
            for k, a in out[rank]["alphas"][step].items():
                assert a == pytest.approx(ref_alphas[step][k], abs=tol)
