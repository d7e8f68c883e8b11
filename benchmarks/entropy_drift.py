"""AEM's theory checked on the trainer's own update (docs/aem-theory.md).

    .venv/bin/python -m benchmarks.entropy_drift [--model DIR] [--states 128] [--lr 0.05] [--proxy-states 64]

1. **Entropy drift.** The paper's law: a natural-gradient step on one response ``a`` with advantage ``A``
   changes the response-level entropy by ΔH_resp ≈ η·A·(S(a|s) − H_resp(s)), S = −log π(a|s). For each
   of ``--states`` household states the benchmark samples ``a`` from the policy, gives it A = +1 or −1
   (alternating, so all four sign cases occur), runs one step of ``update.ppo_update`` (the trainer's
   update: old-policy pass, PPO surrogate with sequence-sum aggregation so the gradient is A·∇log π(a|s),
   no clipping in a first step) from the same starting weights, and measures ΔH_resp **exactly**: under
   constrained decoding the policy's responses at a state are its admissible replies, so π(·|s) and
   H_resp(s) are sums over an enumerated set (they add up to 1; checked). Reported: Pearson r and sign
   agreement of predicted vs measured ΔH, with SGD (a plain gradient step) and AdamW (the trainer's
   optimizer), and the tabular vanilla-gradient form η·A·π(a|s)·(S − H) as a second predictor.
2. **The proxy.** AEM replaces relative surprisal S − H by the group-normalised mean token entropy. For
   ``--proxy-states`` states, G = 8 responses are sampled; each gets AEM's α within its group (the 8
   responses of its state) and its relative surprisal S − H_resp, exact and by Monte Carlo (H from 64
   samples, its standard error stated). Since α falls with entropy, (α − 1) should track **−(S − H)**
   (docs/aem-theory.md on the sign): reported are r and the sign agreement (paper: r = 0.63, 55/64).

Outputs (``--out``, default ``benchmarks/results/entropy-drift/``): ``table.md``, ``drift.csv``,
``proxy.csv``, ``drift.png``, ``proxy.png``. The model defaults to the released ``cpu-tiny-household``
GRPO agent (a trained policy: peaked, realistic response distributions), else a random tiny model.
"""

from __future__ import annotations

import argparse
import copy
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ENV_ID = "aem/Household-v0"
OUT = Path("benchmarks/results/entropy-drift")


@dataclass
class State:
    prompt_ids: list[int]
    replies: list[list[int]]  # token ids of each admissible reply, end of turn included
    allowed: list[list[list[int]]]  # per reply, the constrained decoder's allowed ids at each position


@dataclass
class Dist:
    """The policy's exact response distribution at one state."""

    logp: torch.Tensor  # [n] log π(r|s), summing (in probability) to 1
    hbar: torch.Tensor  # [n] mean token entropy of each reply (AEM's H̄)

    @property
    def entropy(self) -> float:
        p = self.logp.exp()
        return float(-(p * self.logp).sum())


def default_model() -> Path | None:
    """The released cpu-tiny-household GRPO agent (``baselines/released``)."""
    import aem_gym.baselines

    cand = Path(aem_gym.baselines.__file__).with_name("released") / "cpu-tiny-household-grpo-seed0" / "final"
    return cand if (cand / "config.json").exists() else None


def collect_states(tokenizer, n: int, history: int, seed: int, noise: float = 0.5) -> list[State]:
    """``n`` household states with >= 2 admissible replies, visited by a noisy oracle on the train split."""
    import aem_envs
    from aem_gym.agents.constrained import admissible_trie
    from aem_gym.agents.prompts import PromptState, prompt_builder, reply_text

    env = aem_envs.make(ENV_ID, split="train")
    builder, rng, eos = prompt_builder(ENV_ID, k=history), np.random.default_rng(seed), tokenizer.eos_token_id
    states: list[State] = []
    ep = 0
    while len(states) < n:
        obs, info = env.reset(seed=seed * 7919 + ep)
        ep += 1
        st = PromptState(ENV_ID, task=obs, observation=obs, admissible_actions=info["admissible_actions"])
        for turn in range(8):
            acts = list(dict.fromkeys(info["admissible_actions"]))
            if len(acts) >= 2 and rng.random() < 0.5:  # every other state or so: spread over episodes
                text = tokenizer.apply_chat_template(builder.build(st), add_generation_prompt=True,
                                                     tokenize=False)
                prompt = list(tokenizer(text, add_special_tokens=False)["input_ids"])
                trie = admissible_trie(tokenizer, acts, eos)
                replies = [list(tokenizer(reply_text(a), add_special_tokens=False)["input_ids"]) + [eos]
                           for a in acts]
                allowed = [[trie.allowed(r[:j]) or [] for j in range(len(r))] for r in replies]
                states.append(State(prompt, replies, allowed))
            oracle = env.unwrapped.oracle_action()
            action = acts[int(rng.integers(len(acts)))] if oracle is None or rng.random() < noise else oracle
            obs, _, term, trunc, info = env.step(action)
            st.history.append((action, obs))
            st.observation, st.turn, st.admissible_actions = obs, turn + 1, info["admissible_actions"]
            if term or trunc or len(states) >= n:
                break
    env.close()
    return states[:n]


def _records(state: State, which: list[int], advantages: list[float] | None = None):
    from aem_gym.agents.types import TurnRecord

    return [TurnRecord(group_uid="g", traj_uid=f"t{i}", turn_idx=0, env_id=ENV_ID, instance_id="s",
                       task_type="", observation="", action_text="", reward=0.0, done=True,
                       prompt_ids=state.prompt_ids,
                       response_ids=state.replies[i], allowed_token_ids=state.allowed[i]) for i in which]


def distribution(model, state: State, pad_id: int) -> Dist:
    """Exact π(·|s) over the admissible replies, with the trainer's own forward (masked, float32)."""
    from aem_gym.baselines.batch import collate
    from aem_gym.baselines.forward import old_policy_pass

    b = collate(_records(state, list(range(len(state.replies)))), pad_id)
    out = old_policy_pass(model, b, micro_batch=64, with_entropy=True)
    m = b.response_mask
    logp = (out.logp * m).sum(-1).double()
    hbar = (out.entropy * m).sum(-1) / m.sum(-1)
    return Dist(logp, hbar.double())


def one_update(model, state: State, idx: int, adv: float, pad_id: int, optimizer: str, lr: float) -> None:
    """One step of the trainer's update on the single turn (state, reply ``idx``) with advantage ``adv``."""
    from aem_gym.baselines.batch import collate
    from aem_gym.baselines.forward import old_policy_pass
    from aem_gym.baselines.losses import LossConfig
    from aem_gym.baselines.update import UpdateConfig, ppo_update

    b = collate(_records(state, [idx]), pad_id)
    b.old_logp = old_policy_pass(model, b, 1, with_entropy=False).logp
    b.advantages = torch.tensor([adv])
    opt = (torch.optim.SGD(model.parameters(), lr=lr) if optimizer == "sgd"
           else torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0))
    loss = LossConfig(kl_coef=0.0, dual_clip=None, agg="seq-mean-token-sum")  # gradient = A·∇log π(a|s)
    ppo_update(model, opt, b, loss, UpdateConfig(mini_batch_size=1, micro_batch_size=1, grad_clip=0.0))


def drift(model, states: list[State], pad_id: int, optimizer: str, lr: float, seed: int) -> list[dict]:
    from tqdm import tqdm

    start = copy.deepcopy(model.state_dict())
    gen = np.random.default_rng(seed)
    rows = []
    for i, st in enumerate(tqdm(states, desc=f"drift ({optimizer})", leave=False)):
        before = distribution(model, st, pad_id)
        p = before.logp.exp().numpy()
        a = int(gen.choice(len(p), p=p / p.sum()))
        adv = 1.0 if i % 2 == 0 else -1.0
        one_update(model, st, a, adv, pad_id, optimizer, lr)
        after = distribution(model, st, pad_id)
        model.load_state_dict(start)
        h, s = before.entropy, float(-before.logp[a])
        rows.append({"state": i, "optimizer": optimizer, "A": adv, "S": s, "H": h, "pi_a": math.exp(-s),
                     "predicted": lr * adv * (s - h), "predicted_vanilla": lr * adv * math.exp(-s) * (s - h),
                     "measured": after.entropy - h, "prob_sum": float(before.logp.exp().sum())})
    return rows


def proxy(model, states: list[State], pad_id: int, seed: int, group: int = 8, mc: int = 64,
          min_range: float = 0.1) -> list[dict]:
    from aem_gym.agents.aem import aem_alpha

    gen = np.random.default_rng(seed + 1)
    rows = []
    for i, st in enumerate(states):
        d = distribution(model, st, pad_id)
        p = d.logp.exp().numpy()
        p = p / p.sum()
        picks = gen.choice(len(p), size=group, p=p)
        ids = torch.zeros(group, dtype=torch.long)
        alpha = aem_alpha(d.hbar[picks].float(), ids, min_range=min_range)
        alpha0 = aem_alpha(d.hbar[picks].float(), ids, min_range=0.0)  # without the range guard
        s_mc = -d.logp[gen.choice(len(p), size=mc, p=p)].numpy()
        for j, a in enumerate(picks):
            s = float(-d.logp[a])
            rows.append({"state": i, "sample": j, "alpha": float(alpha[j]),
                         "alpha_no_guard": float(alpha0[j]),
                         "hbar": float(d.hbar[a]), "S": s,
                         "rel_surprisal": s - d.entropy, "rel_surprisal_mc": s - float(s_mc.mean()),
                         "mc_se": float(s_mc.std(ddof=1) / math.sqrt(mc))})
    return rows


def _r(x, y) -> float:
    """Pearson's r."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")


def _rho(x, y) -> float:
    """Spearman's rank correlation (average ranks for ties): robust to the few large updates."""
    import pandas as pd

    return _r(pd.Series(np.asarray(x, float)).rank(), pd.Series(np.asarray(y, float)).rank())


def summarise(drift_rows: list[dict], proxy_rows: list[dict]) -> str:
    import pandas as pd

    lines = ["## 1. Entropy drift: predicted vs measured ΔH_resp after one update", "",
             "| optimizer | states | r / ρ (law η·A·(S−H)) | sign agreement | r / ρ (vanilla η·A·π(a)·(S−H)) "
             "| sign agreement | Σπ over replies |", "|---|---|---|---|---|---|---|"]
    df = pd.DataFrame(drift_rows)
    for opt, g in df.groupby("optimizer", sort=False):
        agree = int((np.sign(g.predicted) == np.sign(g.measured)).sum())
        agree_v = int((np.sign(g.predicted_vanilla) == np.sign(g.measured)).sum())
        lines.append(f"| {opt} | {len(g)} | {_r(g.predicted, g.measured):.3f} / "
                     f"{_rho(g.predicted, g.measured):.3f} "
                     f"| {agree}/{len(g)} | {_r(g.predicted_vanilla, g.measured):.3f} / "
                     f"{_rho(g.predicted_vanilla, g.measured):.3f} | {agree_v}/{len(g)} "
                     f"| {g.prob_sum.min():.6f}–{g.prob_sum.max():.6f} |")
    lines += ["", "Per sign case (SGD): mean measured ΔH", "", "| case | states | mean ΔH | predicted sign |",
              "|---|---|---|---|"]
    sgd = df[df.optimizer == "sgd"]
    for a, label_a in ((1.0, "A > 0"), (-1.0, "A < 0")):
        for surprising in (True, False):
            g = sgd[(sgd.A == a) & ((sgd.S > sgd.H) == surprising)]
            sign = "+" if (a > 0) == surprising else "−"
            lines.append(f"| {label_a}, {'S > H' if surprising else 'S < H'} | {len(g)} | "
                         f"{g.measured.mean() if len(g) else float('nan'):+.2e} | {sign} |")
    pr = pd.DataFrame(proxy_rows)
    first = pr[pr["sample"] == 0]
    active = first[first.alpha != 1.0]
    lines += ["", "## 2. The proxy: (α − 1) against −(S − H_resp)", "",
              "| responses | r / ρ (exact H) | r (Monte-Carlo H) | sign agreement | guarded (α = 1) "
              "| MC s.e. of H |",
              "|---|---|---|---|---|---|"]
    for name, g, col in (("one per state", first, "alpha"), ("all G = 8 per state", pr, "alpha"),
                         ("one per state, no 0.1 guard", first, "alpha_no_guard"),
                         ("all, no 0.1 guard", pr, "alpha_no_guard")):
        a = g[col]
        act = g[a != 1.0]
        agree = int((np.sign(act[col] - 1) == np.sign(-act.rel_surprisal)).sum())
        lines.append(f"| {name} ({len(g)}) | {_r(a - 1, -g.rel_surprisal):.3f} / "
                     f"{_rho(a - 1, -g.rel_surprisal):.3f} "
                     f"| {_r(a - 1, -g.rel_surprisal_mc):.3f} | {agree}/{len(act)} | {len(g) - len(act)} "
                     f"| {g.mc_se.mean():.3f} |")
    lines += ["", "r: Pearson; ρ: Spearman (ranks). Sign agreement counts states whose α ≠ 1.", "",
              f"Paper: r = 0.63, sign agreement 55/64 states. Here: {len(active)} of {len(first)} states "
              "had an entropy range ≥ 0.1 among their 8 samples (the others keep α = 1)."]
    return "\n".join(lines) + "\n"


def plot(drift_rows: list[dict], proxy_rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.DataFrame(drift_rows)
    opts = list(dict.fromkeys(df.optimizer))
    fig, axes = plt.subplots(1, len(opts), figsize=(5.2 * len(opts), 4.4), squeeze=False)
    for ax, opt in zip(axes[0], opts, strict=True):
        g = df[df.optimizer == opt]
        for (a, surprising), color in (((1.0, True), "C3"), ((1.0, False), "C0"), ((-1.0, True), "C1"),
                                       ((-1.0, False), "C2")):
            sel = g[(g.A == a) & ((g.S > g.H) == surprising)]
            ax.scatter(sel.predicted, sel.measured, s=14, color=color,
                       label=f"A{'>' if a > 0 else '<'}0, S{'>' if surprising else '<'}H")
        ax.axhline(0, color="grey", lw=0.6)
        ax.axvline(0, color="grey", lw=0.6)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
        ax.set_xlabel("predicted η·A·(S − H)")
        ax.set_ylabel("measured ΔH_resp (exact)")
        ax.set_title(f"{opt}: r = {_r(g.predicted, g.measured):.2f}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "drift.png", dpi=110)
    plt.close(fig)
    pr = pd.DataFrame(proxy_rows)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    ax.scatter(-pr.rel_surprisal, pr.alpha - 1, s=8, alpha=0.5, color="C7", label="all samples")
    first = pr[pr["sample"] == 0]
    ax.scatter(-first.rel_surprisal, first.alpha - 1, s=16, color="C0", label="one per state")
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel("−(S − H_resp): relative confidence (exact)")
    ax.set_ylabel("α − 1 (AEM, group of 8 samples)")
    ax.set_title(f"proxy: r = {_r(first.alpha - 1, -first.rel_surprisal):.2f} (one per state)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "proxy.png", dpi=110)
    plt.close(fig)


def load(model_dir: Path | None):
    from aem_gym.agents.tiny import build_tiny_model, load_tiny_model

    history, name = 0, None
    if model_dir is None:
        d = Path(tempfile.mkdtemp())
        build_tiny_model(d, vocab_size=2048, num_heads=4, num_kv_heads=2)
        model_dir, name = d, "a random-init tiny model (no released agent found)"
    elif model_dir == default_model():
        name = f"the released {model_dir.parent.name} (baselines/released)"
    cfg_file = Path(model_dir).parent / "config.yaml"
    if cfg_file.exists():
        import yaml

        env = (yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}).get("env") or {}
        history = int(env.get("history", 0))
    model, tok = load_tiny_model(model_dir)
    return model.float().eval(), tok, history, name or str(model_dir)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="HF model dir (default: the released CPU agent)")
    ap.add_argument("--states", type=int, default=128)
    ap.add_argument("--proxy-states", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4, help="SGD step size η (small: a first-order step)")
    ap.add_argument("--adam-lr", type=float, default=1e-5, help="AdamW step size (a first step ~ lr·sign(g))")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--from-csv", action="store_true", help="redo the table and plots from --out's CSVs")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.from_csv:
        import pandas as pd

        rows, prox = (pd.read_csv(out / f).to_dict("records") for f in ("drift.csv", "proxy.csv"))
        head = (out / "table.md").read_text(encoding="utf-8").split("## 1.")[0]
        (out / "table.md").write_text(head + summarise(rows, prox), encoding="utf-8")
        plot(rows, prox, out)
        print((out / "table.md").read_text(encoding="utf-8"))
        return
    torch.manual_seed(args.seed)
    model, tok, history, name = load(Path(args.model) if args.model else default_model())
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    states = collect_states(tok, max(args.states, args.proxy_states), history, args.seed)
    rows = drift(model, states[:args.states], pad, "sgd", args.lr, args.seed)
    rows += drift(model, states[:args.states], pad, "adamw", args.adam_lr, args.seed)
    prox = proxy(model, states[:args.proxy_states], pad, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    pd.DataFrame(rows).to_csv(out / "drift.csv", index=False)
    pd.DataFrame(prox).to_csv(out / "proxy.csv", index=False)
    text = (f"# AEM's theory on the trainer's update\n\nModel: {name}; {args.states} household states "
            f"(train split, noisy-oracle visits); SGD η = {args.lr}, AdamW lr = {args.adam_lr}; seed "
            f"{args.seed}.\n\n" + summarise(rows, prox))
    (out / "table.md").write_text(text, encoding="utf-8")
    plot(rows, prox, out)
    print(text)
    print(f"plots and CSVs: {out}/")


if __name__ == "__main__":
    main()
