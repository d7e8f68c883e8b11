"""Worker bodies for the multi-process tests (importable by spawned children)."""

from __future__ import annotations

import os

import torch

from aem_gym.agents.types import TurnRecord


def records(n_groups: int = 4, seed: int = 0) -> list[TurnRecord]:
    """Groups of 2-3 trajectories with 1-3 turns each: uneven row counts per group (so ranks get
    different numbers of rows and micro-batches)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for gi in range(n_groups):
        for ti in range(2 + gi % 2):
            won = bool(torch.randint(0, 2, (1,), generator=g))
            n_turns = 1 + (gi + ti) % 3
            for k in range(n_turns):
                p = torch.randint(5, 200, (int(torch.randint(4, 10, (1,), generator=g)),),
                                  generator=g).tolist()
                r = torch.randint(5, 200, (int(torch.randint(1, 6, (1,), generator=g)),),
                                  generator=g).tolist()
                rows.append(TurnRecord(group_uid=f"g{gi}", traj_uid=f"g{gi}-{ti}", turn_idx=k, env_id="x",
                                       instance_id="i", task_type="t", observation=f"o{k}", action_text="a",
                                       reward=10.0 * won if k == n_turns - 1 else 0.0, done=k == n_turns - 1,
                                       won=won, prompt_ids=p, response_ids=r))
    return rows


def prepared_batch(model, rows, aem: bool = True):
    """Collate → old pass (log-probs + entropies) → GRPO advantages → AEM, as the trainer does."""
    from aem_gym.baselines.advantages import AdvantageInput, EstimatorConfig, compute_advantages
    from aem_gym.baselines.aem import AEMConfig, apply_aem, mean_response_entropy
    from aem_gym.baselines.batch import collate
    from aem_gym.baselines.forward import old_policy_pass

    b = collate(rows, pad_id=0)
    old = old_policy_pass(model, b, 4, with_entropy=True)
    b.old_logp, b.entropy = old.logp, old.entropy
    adv = compute_advantages("grpo", AdvantageInput(b.group, b.traj, b.turn, b.reward), EstimatorConfig())
    hbar, ok = mean_response_entropy(b.entropy, b.response_mask)
    # min_range 0: the random tiny model's entropies are nearly flat; the guard would hide α entirely
    b.advantages, b.alpha, _ = apply_aem(adv, hbar, b.group, AEMConfig(enabled=aem, min_range=0.0),
                                         include=ok)
    return b


def flat_params(model) -> torch.Tensor:
    return torch.cat([p.detach().double().reshape(-1) for p in model.state_dict().values()])


def update_worker(rank: int, world: int, port: int, model_dir: str, out_dir: str, strategy: str,
                  steps: int) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from aem_gym.agents.tiny import load_tiny_model
    from aem_gym.baselines.distributed import (
        broadcast_module,
        distributed_update,
        init_distributed,
        shard_by_group,
        shutdown_distributed,
        wrap_model,
    )
    from aem_gym.baselines.losses import LossConfig
    from aem_gym.baselines.update import UpdateConfig
    from aem_gym.baselines.vllm_sync import ReplicaSync

    ctx = init_distributed("gloo")
    try:
        torch.manual_seed(0)
        model = load_tiny_model(model_dir)[0].double()  # float64: see test_data_parallel's tolerance
        broadcast_module(model, ctx)
        full = model
        if strategy == "fsdp":
            import copy

            full = copy.deepcopy(model)
        train = wrap_model(model, strategy, ctx)
        sync = ReplicaSync(train, full) if strategy == "fsdp" else None
        opt = torch.optim.AdamW(train.parameters(), lr=1e-2)
        rows = records()
        mine = shard_by_group([r.group_uid for r in rows], world)[rank]
        shard = [rows[i] for i in mine]
        alphas = []
        for _ in range(steps):
            b = prepared_batch(full, shard)
            alphas.append({(r.traj_uid, r.turn_idx): float(a) for r, a in zip(shard, b.alpha, strict=True)})
            distributed_update(train, opt, b, LossConfig(kl_coef=0.0), UpdateConfig(mini_batch_size=64,
                               micro_batch_size=2), ctx)
            if sync is not None:
                sync.push()
        torch.save({"params": flat_params(full), "groups": sorted({r.group_uid for r in shard}),
                    "alphas": alphas}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        shutdown_distributed()


def fast_overrides(model_dir: str, out_dir: str) -> dict:
    """tests/baselines' fast TreasureHunt config (a step well under a second on one process)."""
    return {"algo": "grpo+aem", "out_dir": out_dir, "model.init": model_dir,
            "env.id": "example/TreasureHunt-v0", "model.max_new_tokens": 8,
            "model.max_prompt_tokens": 160, "env.max_turns": 3, "rollout.groups": 4, "rollout.group_size": 2,
            "rl.steps": 2, "rl.lr": 0.01, "update.mini_batch_size": 12, "update.micro_batch_size": 4,
            "eval.every": 0, "eval.episodes": 2, "eval.final_episodes": 2, "checkpoint.every": 0}


def trainer_worker(rank: int, world: int, port: int, model_dir: str, out_dir: str, strategy: str,
                   steps: int) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from aem_gym.baselines.config import load_config
    from aem_gym.baselines.distributed import DistributedTrainer, init_distributed, shutdown_distributed

    ctx = init_distributed("gloo")
    try:
        cfg = load_config(None, overrides={**fast_overrides(model_dir, os.path.join(out_dir, "run")),
                                           "distributed.strategy": strategy})
        tr = DistributedTrainer(cfg, ctx, progress=False)
        tr.warm_start()
        metrics = [tr.train_step(s) for s in range(steps)]
        torch.save({"params": flat_params(tr.model), "groups": tr.my_groups, "metrics": metrics},
                   os.path.join(out_dir, f"trainer{rank}.pt"))
    finally:
        shutdown_distributed()
