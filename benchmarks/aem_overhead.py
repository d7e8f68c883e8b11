"""AEM's share of a training step (the paper reports ~1.1%; our target: <= 1.1%).

    .venv/bin/python -m benchmarks.aem_overhead [--rows 256] [--prompt 400] [--response 16] [--repeats 5]
    .venv/bin/python -m benchmarks.aem_overhead --realistic     # also a 150k-vocabulary / 1.5k-hidden model

One training step on a synthetic per-turn batch (rows in groups of G trajectories with several turns each),
timed phase by phase: the old-policy pass with and without the entropy reduction (AEM's only cost inside
the pass), the reference pass, the advantage estimator, the AEM transform itself (per-turn mean entropy,
α, rescaling) and the PPO update. Every ratio is against the full step measured in the same run; medians
over ``--repeats``.

The entropy's cost is measured twice: as the difference of two old-policy passes (noisy: two large
timings), and in isolation on the logits the pass materialises anyway, for the trainer's blocked
reduction (``forward.blocked_logp_entropy``: log-softmax and entropy per cache-sized block) and for the
previous implementation (softmax and log-sum-exp over the whole logits tensor), so before and after come
from the same run. Configurations: ``tiny`` (the default tiny model: hidden 128, vocabulary ~1k) and, with
``--realistic``, a random-weight Qwen2 of Qwen2.5-1.5B's widths (vocabulary 151,936, hidden 1,536, 12
heads, intermediate 8,960) with ``--realistic-layers`` layers, where the LM head dominates as in real
models. Rollout time is excluded (it would only lower AEM's share).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass

import torch


@dataclass
class Shape:
    name: str
    rows: int
    prompt: int
    response: int


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


def tiny_models():
    from aem_gym.agents.tiny import build_tiny_model, load_tiny_model

    with tempfile.TemporaryDirectory() as d:
        build_tiny_model(d)
        return load_tiny_model(d)[0].eval(), load_tiny_model(d)[0].eval()


def realistic_models(layers: int):
    """Random-weight Qwen2 with Qwen2.5-1.5B's widths (tied embeddings, as that model)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=layers,
                      num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True,
                      max_position_embeddings=4096)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).eval()
    ref = Qwen2ForCausalLM(cfg).eval()
    ref.load_state_dict(model.state_dict())
    return model, ref


def isolated_entropy(model, batch, micro: int, repeats: int) -> dict[str, float]:
    """Seconds over the whole batch for the reductions alone, on logits computed once beforehand."""
    from aem_gym.baselines.forward import blocked_logp_entropy, entropy_from_logits

    chunks = []
    with torch.no_grad():
        for s in range(0, len(batch), micro):
            ids, attn = batch.input_ids[s:s + micro], batch.attention_mask[s:s + micro]
            pos = (attn.cumsum(-1) - 1).clamp_min(0)
            out = model(input_ids=ids, attention_mask=attn, position_ids=pos,
                        logits_to_keep=batch.response_width + 1, use_cache=False)
            chunks.append((out.logits[:, :-1, :], ids[:, -batch.response_width:]))

    def run(fn) -> float:
        return statistics.median(_time(lambda: [fn(z, t) for z, t in chunks]) for _ in range(repeats))

    lp_only = run(lambda z, t: blocked_logp_entropy(z, t, with_entropy=False))
    both = run(lambda z, t: blocked_logp_entropy(z, t, with_entropy=True))
    previous = run(lambda z, t: entropy_from_logits(z.float()))
    return {"blocked logp only": lp_only, "blocked logp + entropy": both, "previous entropy": previous}


def measure(model, ref, shape: Shape, micro: int, repeats: int) -> dict[str, float]:
    from tqdm import tqdm

    from aem_gym.baselines.advantages import AdvantageInput, compute_advantages
    from aem_gym.baselines.aem import AEMConfig, apply_aem, mean_response_entropy
    from aem_gym.baselines.forward import old_policy_pass
    from aem_gym.baselines.losses import LossConfig
    from aem_gym.baselines.update import UpdateConfig, ppo_update

    batch = _batch(shape.rows, shape.prompt, shape.response, model.config.vocab_size, 8, 4)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    loss_cfg = LossConfig()
    upd = UpdateConfig(mini_batch_size=max(1, shape.rows // 2), micro_batch_size=micro)
    aem_cfg = AEMConfig(enabled=True)
    times: dict[str, list[float]] = {}
    for _ in tqdm(range(repeats), desc=f"{shape.name}: repeats"):
        t_lp = _time(lambda: old_policy_pass(model, batch, micro, with_entropy=False))
        t0 = time.perf_counter()
        old = old_policy_pass(model, batch, micro, with_entropy=True)
        t1 = time.perf_counter()
        batch.old_logp, batch.entropy = old.logp, old.entropy
        batch.ref_logp = old_policy_pass(ref, batch, micro, with_entropy=False).logp
        t2 = time.perf_counter()
        inp = AdvantageInput(batch.group, batch.traj, batch.turn, batch.reward, batch.env_reward,
                             batch.step_group)
        adv = compute_advantages("grpo", inp)
        t3 = time.perf_counter()
        hbar, ok = mean_response_entropy(batch.entropy, batch.response_mask)
        batch.advantages, _, _ = apply_aem(adv, hbar, batch.group, aem_cfg, traj=batch.traj, include=ok)
        t4 = time.perf_counter()
        ppo_update(model, opt, batch, loss_cfg, upd)
        t5 = time.perf_counter()
        for k, v in (("old pass (logp only)", t_lp), ("old pass (logp + entropy)", t1 - t0),
                     ("reference pass", t2 - t1), ("advantages (grpo)", t3 - t2), ("AEM transform", t4 - t3),
                     ("PPO update", t5 - t4), ("full step (with AEM)", t5 - t0)):
            times.setdefault(k, []).append(v)
    med = {k: statistics.median(v) for k, v in times.items()}
    med.update(isolated_entropy(model, batch, micro, repeats))
    return med


def report(shape: Shape, med: dict[str, float], threads: int) -> dict[str, float]:
    from rich.console import Console
    from rich.table import Table

    full = med["full step (with AEM)"]
    diff = max(0.0, med["old pass (logp + entropy)"] - med["old pass (logp only)"])
    iso = max(0.0, med["blocked logp + entropy"] - med["blocked logp only"])
    prev = med["previous entropy"]
    table = Table(title=f"AEM overhead, {shape.name}: {shape.rows} rows x ({shape.prompt} prompt + <= "
                        f"{shape.response} response) tokens, {threads} thread(s), medians")
    for c in ("phase", "seconds", "share of full step"):
        table.add_column(c, justify="left" if c == "phase" else "right")
    rows = [(k, med[k]) for k in ("old pass (logp only)", "old pass (logp + entropy)", "reference pass",
                                  "advantages (grpo)", "AEM transform", "PPO update", "full step (with AEM)")]
    rows += [("entropy: difference of the two old passes", diff), ("entropy: isolated, blocked (now)", iso),
             ("entropy: isolated, previous implementation", prev),
             ("AEM total = transform + entropy (isolated, now)", med["AEM transform"] + iso),
             ("AEM total = transform + entropy (difference, now)", med["AEM transform"] + diff),
             ("AEM total with the previous entropy", med["AEM transform"] + prev)]
    for k, v in rows:
        table.add_row(k, f"{v:.4f}", f"{100 * v / full:.3f}%")
    Console(width=140).print(table)
    return {"now_isolated": 100 * (med["AEM transform"] + iso) / full,
            "now_difference": 100 * (med["AEM transform"] + diff) / full,
            "previous": 100 * (med["AEM transform"] + prev) / full}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--prompt", type=int, default=400)
    ap.add_argument("--response", type=int, default=16)
    ap.add_argument("--micro", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--realistic", action="store_true", help="also a 150k-vocabulary / 1.5k-hidden model")
    ap.add_argument("--realistic-layers", type=int, default=2)
    ap.add_argument("--realistic-rows", type=int, default=16)
    ap.add_argument("--realistic-prompt", type=int, default=128)
    args = ap.parse_args(argv)
    threads = torch.get_num_threads()
    results = {}
    shape = Shape("tiny model (hidden 128, vocabulary ~1k)", args.rows, args.prompt, args.response)
    model, ref = tiny_models()
    results["tiny"] = report(shape, measure(model, ref, shape, args.micro, args.repeats), threads)
    if args.realistic:
        name = (f"Qwen2.5-1.5B widths, {args.realistic_layers} layers, random weights "
                "(vocabulary 151,936, hidden 1,536)")
        shape = Shape(name, args.realistic_rows, args.realistic_prompt, args.response)
        model, ref = realistic_models(args.realistic_layers)
        results["realistic"] = report(shape, measure(model, ref, shape, min(args.micro, 4),
                                                     max(2, args.repeats // 2)), threads)
    for name, r in results.items():
        print(f"{name}: AEM = {r['now_isolated']:.2f}% of a step (entropy isolated), "
              f"{r['now_difference']:.2f}% (difference of passes); previous entropy implementation "
              f"{r['previous']:.2f}%")


if __name__ == "__main__":
    main()
