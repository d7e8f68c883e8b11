"""AEM's share of a training step (paper: ~1.1%; our target: <= 0.3%).

    .venv/bin/python -m benchmarks.aem_overhead [--rows 256] [--prompt 400] [--response 16] [--repeats 3]

One training step on a synthetic per-turn batch shaped like the CPU recipe's (tiny model, rows in groups of
G trajectories with several turns each), timed phase by phase: the old-policy pass with and without the
entropy reduction (AEM's only cost inside the pass), the reference pass, the advantage estimator, the AEM
transform itself (per-turn mean entropy + α + rescaling) and the PPO update. Every ratio is against the
full step measured in the same run. Medians over ``--repeats``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch


def _batch(rows: int, prompt: int, response: int, vocab: int, group_size: int, turns: int, seed: int = 0):
    from aem_gym.agents.types import TurnRecord
    from aem_gym.baselines.batch import collate

    g = torch.Generator().manual_seed(seed)
    recs = []
    for i in range(rows):
        traj = i // turns
        n_resp = int(torch.randint(max(1, response // 2), response + 1, (1,), generator=g))
        recs.append(TurnRecord(group_uid=f"g{traj // group_size}", traj_uid=f"t{traj}", turn_idx=i % turns,
                               env_id="bench", instance_id="x", task_type="t", observation=f"o{i % 7}",
                               action_text="a", reward=10.0 * (traj % 3 == 0 and i % turns == turns - 1),
                               done=i % turns == turns - 1,
                               prompt_ids=torch.randint(5, vocab, (prompt,), generator=g).tolist(),
                               response_ids=torch.randint(5, vocab, (n_resp,), generator=g).tolist()))
    return collate(recs, pad_id=0)


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--prompt", type=int, default=400)
    ap.add_argument("--response", type=int, default=16)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--micro", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table
    from tqdm import tqdm

    from aem_gym.agents.tiny import build_tiny_model, load_tiny_model
    from aem_gym.baselines.advantages import AdvantageInput, compute_advantages
    from aem_gym.baselines.aem import AEMConfig, apply_aem, mean_response_entropy
    from aem_gym.baselines.forward import old_policy_pass
    from aem_gym.baselines.losses import LossConfig
    from aem_gym.baselines.update import UpdateConfig, ppo_update

    with tempfile.TemporaryDirectory() as d:
        build_tiny_model(d)
        model, _ = load_tiny_model(d)
        ref, _ = load_tiny_model(d)
    model.eval()
    batch = _batch(args.rows, args.prompt, args.response, model.config.vocab_size, args.group_size, args.turns)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    loss_cfg, upd = LossConfig(), UpdateConfig(mini_batch_size=args.rows // 2, micro_batch_size=args.micro)
    aem_cfg = AEMConfig(enabled=True)
    times: dict[str, list[float]] = {k: [] for k in ("old pass (logp only)", "old pass (logp + entropy)",
                                                     "reference pass", "advantages (grpo)", "AEM transform",
                                                     "PPO update", "full step (with AEM)")}
    for _ in tqdm(range(args.repeats), desc="repeats"):
        times["old pass (logp only)"].append(_time(lambda: old_policy_pass(model, batch, args.micro, with_entropy=False)))
        t0 = time.perf_counter()
        old = old_policy_pass(model, batch, args.micro, with_entropy=True)
        t1 = time.perf_counter()
        batch.old_logp, batch.entropy = old.logp, old.entropy
        batch.ref_logp = old_policy_pass(ref, batch, args.micro, with_entropy=False).logp
        t2 = time.perf_counter()
        inp = AdvantageInput(batch.group, batch.traj, batch.turn, batch.reward, batch.env_reward, batch.step_group)
        adv = compute_advantages("grpo", inp)
        t3 = time.perf_counter()
        hbar, ok = mean_response_entropy(batch.entropy, batch.response_mask)
        batch.advantages, _, _ = apply_aem(adv, hbar, batch.group, aem_cfg, traj=batch.traj, include=ok)
        t4 = time.perf_counter()
        ppo_update(model, opt, batch, loss_cfg, upd)
        t5 = time.perf_counter()
        for k, v in (("old pass (logp + entropy)", t1 - t0), ("reference pass", t2 - t1),
                     ("advantages (grpo)", t3 - t2), ("AEM transform", t4 - t3), ("PPO update", t5 - t4),
                     ("full step (with AEM)", t5 - t0)):
            times[k].append(v)
    med = {k: statistics.median(v) for k, v in times.items()}
    full = med["full step (with AEM)"]
    entropy_extra = max(0.0, med["old pass (logp + entropy)"] - med["old pass (logp only)"])
    table = Table(title=f"AEM overhead: {args.rows} rows x ({args.prompt} prompt + <= {args.response} response) "
                        f"tokens, tiny model, {torch.get_num_threads()} threads, median of {args.repeats}")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    table.add_column("share of full step", justify="right")
    for k, v in med.items():
        table.add_row(k, f"{v:.4f}", f"{100 * v / full:.3f}%")
    table.add_row("entropy reduction inside the old pass", f"{entropy_extra:.4f}", f"{100 * entropy_extra / full:.3f}%")
    aem_total = med["AEM transform"] + entropy_extra
    table.add_row("AEM total (transform + entropy reduction)", f"{aem_total:.4f}", f"{100 * aem_total / full:.3f}%")
    Console().print(table)
    print("Rollout time is excluded (it would only lower AEM's share). The entropy row is the difference of two "
          "noisy timings; the trainer needs the old-policy pass anyway.")


if __name__ == "__main__":
    main()
