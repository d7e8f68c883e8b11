"""One training step for one process and for data-parallel ranks: the same code, the same metrics.

Two gloo ranks each take whole groups of one batch; every metric they report (the update's and the step's)
must equal what one process reports on the union of their rows."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from aem_gym.baselines.collective import LOCAL, Stat
from tests.distributed._workers import prepared_batch, records

# batch-level statistics: EMPG's defaults (batch scope, centering), AEM per turn and per token over the batch
BATCH_LEVEL = {"empg": ("grpo+empg", []), "aem-batch": ("grpo+aem", ["aem.scope=batch"]),
               "aem-token-batch": ("grpo+aem-token", ["aem.scope=batch"])}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _transformed(model, rows, collective, name):
    """Advantages (per turn, or each turn's per-token list) after a BATCH_LEVEL configuration's transforms."""
    from aem_gym.baselines.config import load_config
    from aem_gym.baselines.transforms import TransformInput, apply_transforms

    b = prepared_batch(model, rows, aem=False)
    inp = TransformInput(b.advantages, b.entropy, b.response_mask, b.group, b.traj, b.turn)
    algo, sets = BATCH_LEVEL[name]
    out = apply_transforms(inp, load_config(None, overrides={"algo": algo}, sets=["aem.min_range=0", *sets]),
                           collective)
    adv = out.advantages * b.response_mask if out.advantages.dim() == 2 else out.advantages
    return {(r.traj_uid, r.turn_idx): a.reshape(-1)[:len(r.response_ids)].tolist()
            for r, a in zip(rows, adv, strict=True)}


def _step_metrics(model, rows, collective):
    """The update and the step statistics of ``Trainer.train_step`` on ``rows``."""
    from aem_gym.baselines.aem import AEMConfig, apply_aem, mean_response_entropy
    from aem_gym.baselines.collect import Collected
    from aem_gym.baselines.losses import LossConfig
    from aem_gym.baselines.trainer import step_stats
    from aem_gym.baselines.update import UpdateConfig, ppo_update

    b = prepared_batch(model, rows)
    hbar, ok = mean_response_entropy(b.entropy, b.response_mask)
    _, _, aem = apply_aem(b.advantages, hbar, b.group, AEMConfig(enabled=True, min_range=0.0), include=ok)
    won = [r.won for r in rows if r.done]
    rolled = Collected(rows, sum(won) / len(won), 1.0, 2.0, int(b.group.unique().numel()), 1, len(won))
    stats = step_stats(rolled, b, aem.to_stats(), {"step": 1.0})
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # metrics only: the weights stay put
    up = ppo_update(model, opt, b, LossConfig(kl_coef=0.0, entropy_coef=0.01), UpdateConfig(
        mini_batch_size=64, micro_batch_size=3), collective=collective)  # one mini-batch: the same rows
    return {**collective.reduce(stats), **up}


def _rank(rank: int, world: int, port: int, model_dir: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from aem_gym.agents.tiny import load_tiny_model
    from aem_gym.baselines.distributed import (
        DataParallel,
        init_distributed,
        shard_by_group,
        shutdown_distributed,
        wrap_model,
    )

    ctx = init_distributed("gloo")
    try:
        model, _ = load_tiny_model(model_dir)
        rows = records(n_groups=5)
        mine = [rows[i] for i in shard_by_group([r.group_uid for r in rows], world)[rank]]
        coll = DataParallel(ctx)
        adv = {a: _transformed(model, mine, coll, a) for a in BATCH_LEVEL}  # before the update moves weights
        metrics = _step_metrics(wrap_model(model, "ddp", ctx), mine, coll)
        torch.save({"metrics": metrics, "adv": adv}, os.path.join(out, f"m{rank}.pt"))
    finally:
        shutdown_distributed()


def test_two_ranks_report_the_metrics_of_one_process(tmp_path, tiny_model_dir):
    from aem_gym.agents.tiny import load_tiny_model

    mp.spawn(_rank, args=(2, _free_port(), str(tiny_model_dir), str(tmp_path)), nprocs=2, join=True)
    saved = [torch.load(tmp_path / f"m{r}.pt") for r in range(2)]
    ranks = [s["metrics"] for s in saved]
    model = load_tiny_model(tiny_model_dir)[0]
    for algo in BATCH_LEVEL:  # batch-level transform statistics: the ranks gather the batch's per-turn inputs
        ref = _transformed(model, records(n_groups=5), LOCAL, algo)
        got = {**saved[0]["adv"][algo], **saved[1]["adv"][algo]}
        assert got.keys() == ref.keys()
        assert all(got[k] == pytest.approx(ref[k], abs=1e-5) for k in ref), algo
        assert len({round(v[0], 6) for v in ref.values()}) > 3  # not a constant
    one = _step_metrics(model, records(n_groups=5), LOCAL)
    assert ranks[0] == ranks[1]  # every rank holds the reduced values
    assert set(ranks[0]) == set(one)
    for k in ("rows", "train/groups_kept", "train/success", "policy_entropy", "adv/mean_abs", "aem/alpha_min",
              "aem/alpha_max", "aem/alpha_mean", "train/invalid_frac", "loss/pg", "loss/entropy_bonus",
              "loss/clip_frac", "loss/ppo_kl", "loss/total", "grad_norm", "opt_steps"):
        assert ranks[0][k] == pytest.approx(one[k], rel=1e-5, abs=1e-6), k
    assert one["aem/alpha_min"] < 1 < one["aem/alpha_max"] and one["loss/entropy_bonus"] > 0  # not trivial


def test_reduce_combines_each_stat_by_its_rule():
    class TwoRanks(type(LOCAL)):
        """The other rank's values are the local ones doubled (sum) or shifted (max)."""

        world_size = 2

        def sum(self, values):
            return [v + 2 * v for v in values]

        def max(self, values):
            return [max(v, v + 1) for v in values]

    stats = {"m": Stat(0.5, weight=2.0), "s": Stat(3.0, op="sum"), "hi": Stat(1.0, op="max"),
             "lo": Stat(1.0, op="min")}
    out = TwoRanks().reduce(stats)
    assert out == {"m": 0.5, "s": 9.0, "hi": 2.0, "lo": 0.0} and list(out) == list(stats)
    assert LOCAL.reduce(stats) == {"m": 0.5, "s": 3.0, "hi": 1.0, "lo": 1.0}
    assert LOCAL.reduce({"m": Stat(0.25, weight=0.0)}) == {"m": 0.25}  # nothing to average: the local value


def test_a_rank_whose_rows_are_all_skipped_makes_the_same_collective_calls(tiny_model_dir):
    """``skip_zero_advantage`` can leave one rank with no row to run (its groups all failed or all won): it
    runs stand-ins, and must still make every all-reduce the rank with rows makes, with the same sizes —
    otherwise the ranks' next reductions pair up wrongly and the job hangs (seen with 2 gloo ranks)."""
    from aem_gym.agents.tiny import load_tiny_model
    from aem_gym.baselines.losses import LossConfig
    from aem_gym.baselines.update import UpdateConfig, ppo_update

    class Recording(type(LOCAL)):
        """A rank of 2 whose peer always has rows: it records the size of every reduction it makes."""

        world_size = 2

        def __init__(self):
            self.calls = []

        def sum(self, values):
            self.calls.append(("sum", len(values)))
            return [2 * float(v) for v in values]

        def max(self, values):
            self.calls.append(("max", len(values)))
            return [max(float(v), 1.0) for v in values]

    model = load_tiny_model(tiny_model_dir)[0]
    calls = {}
    for name, zero in (("with rows", False), ("all skipped", True)):
        b = prepared_batch(model, records(), aem=False)
        if zero:
            b.advantages = torch.zeros_like(b.advantages)
        rec = Recording()
        ppo_update(model, torch.optim.SGD(model.parameters(), lr=0.0), b, LossConfig(kl_coef=0.0),
                   UpdateConfig(mini_batch_size=64, micro_batch_size=4), collective=rec)
        calls[name] = rec.calls
    assert calls["all skipped"] == calls["with rows"]
