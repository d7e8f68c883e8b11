"""Paired comparisons of algorithms over seeds (``aem compare``'s ``paired.md``, ``entropy_diff.png``).

Arms of one seed are paired by construction: they start RL from the same SFT model (``sft.cache``), roll out
the same task seeds at every step and are evaluated on the same held-out episodes (same task ids, same
sampling seed). So an arm's effect is estimated from per-seed differences against the reference arm:

* **success difference**: final held-out success of the arm minus the reference's, per seed; the 95% CI
  is a paired bootstrap (seeds resampled with replacement, then the seed's paired episodes resampled), so
  both seed-to-seed and episode-level noise are in it. Also reported: on how many seeds the arm won.
* **learning**: final held-out success minus the step-0 evaluation of the same run (the SFT model),
  mean and bootstrap CI over seeds, per arm: whether RL learned at all.
* **entropy difference**: policy entropy of the arm minus the reference's at each step (per seed), averaged
  over the first and the last third of the steps, with bootstrap CIs over seeds: the AEM paper's claim is
  higher entropy early and lower late than GRPO.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _final_wins(run) -> dict[str, list[bool]]:
    """Episodes of the final evaluation by instance id (an id may repeat when episodes > tasks)."""
    out: dict[str, list[bool]] = {}
    for e in run.final.get("episodes", []):
        out.setdefault(str(e.get("instance_id", len(out))), []).append(bool(e["won"]))
    return out


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    wa, wb = _final_wins(a), _final_wins(b)
    keys = [k for k in wa if k in wb]
    xa = np.array([w for k in keys for w in wa[k][:len(wb[k])]], float)
    xb = np.array([w for k in keys for w in wb[k][:len(wa[k])]], float)
    return xa, xb


def _ci(stats: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def paired_bootstrap(pairs: list[tuple[np.ndarray, np.ndarray]], n_boot: int = 4000,
                     rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """Mean difference (a - b) and its 95% CI from per-seed paired 0/1 episode arrays."""
    pairs = [(a, b) for a, b in pairs if len(a)]
    if not pairs:
        return float("nan"), float("nan"), float("nan")
    rng = rng or np.random.default_rng(0)
    diffs = [a - b for a, b in pairs]
    mean = float(np.mean([d.mean() for d in diffs]))
    stats = np.empty(n_boot)
    for i in range(n_boot):
        picks = rng.integers(len(diffs), size=len(diffs))
        stats[i] = np.mean([diffs[j][rng.integers(len(diffs[j]), size=len(diffs[j]))].mean() for j in picks])
    return (mean, *_ci(stats))


def seed_bootstrap(values: list[float], n_boot: int = 4000, rng: np.random.Generator | None = None):
    """Mean and 95% CI of per-seed values (seeds resampled)."""
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    if not len(v):
        return float("nan"), float("nan"), float("nan")
    rng = rng or np.random.default_rng(0)
    stats = v[rng.integers(len(v), size=(n_boot, len(v)))].mean(1)
    return (float(v.mean()), *_ci(stats))


def _series(run, col: str, kind: str = "train") -> dict[int, float]:
    return {int(h["step"]): float(h[col]) for h in run.history
            if h.get("kind") == kind and col in h and h[col] == h[col]}


def _start_success(run) -> float:
    ev = _series(run, "eval/success", "eval")
    return ev.get(0, float("nan"))


def paired_rows(results: list, reference: str) -> list[dict[str, Any]]:
    """One row per arm (the reference included, against itself for learning only)."""
    by = {(r.algo, r.seed): r for r in results}
    seeds = sorted({r.seed for r in results if r.algo == reference})
    rows = []
    for algo in dict.fromkeys(r.algo for r in results):
        runs = [by[(algo, s)] for s in seeds if (algo, s) in by]
        learn = [float(np.mean([e["won"] for e in r.final.get("episodes", [])] or [np.nan]))
                 - _start_success(r)
                 for r in runs]
        row: dict[str, Any] = {"algo": algo, "seeds": len(runs)}
        row["learning"], row["learning_lo"], row["learning_hi"] = seed_bootstrap(learn)
        if algo != reference:
            pairs = [_paired(by[(algo, s)], by[(reference, s)]) for s in seeds if (algo, s) in by]
            row["diff"], row["diff_lo"], row["diff_hi"] = paired_bootstrap(pairs)
            row["seeds_better"] = int(sum(a.mean() > b.mean() for a, b in pairs))
            row["seeds_worse"] = int(sum(a.mean() < b.mean() for a, b in pairs))
            early, late = [], []
            for s in seeds:
                if (algo, s) not in by:
                    continue
                ea = _series(by[(algo, s)], "policy_entropy")
                er = _series(by[(reference, s)], "policy_entropy")
                steps = sorted(set(ea) & set(er))
                if len(steps) < 3:
                    continue
                third = max(1, len(steps) // 3)
                early.append(np.mean([ea[t] - er[t] for t in steps[:third]]))
                late.append(np.mean([ea[t] - er[t] for t in steps[-third:]]))
            row["dH_early"], row["dH_early_lo"], row["dH_early_hi"] = seed_bootstrap(early)
            row["dH_late"], row["dH_late_lo"], row["dH_late_hi"] = seed_bootstrap(late)
        rows.append(row)
    return rows


def paired_markdown(rows: list[dict[str, Any]], reference: str) -> str:
    def pct(r, k):
        return f"{100 * r[k]:+.1f} [{100 * r[k + '_lo']:+.1f}, {100 * r[k + '_hi']:+.1f}]"

    def ent(r, k):
        return f"{r[k]:+.4f} [{r[k + '_lo']:+.4f}, {r[k + '_hi']:+.4f}]"

    lines = [f"| arm | seeds | success − {reference} (points) | seeds better / worse | "
             "learning: final − step 0 (points) | entropy − ref, first third | entropy − ref, last third |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["algo"] == reference:
            lines.append(f"| {r['algo']} (reference) | {r['seeds']} | – | – | {pct(r, 'learning')} | – | – |")
            continue
        lines.append(f"| {r['algo']} | {r['seeds']} | {pct(r, 'diff')} | {r['seeds_better']} / "
                     f"{r['seeds_worse']} "
                     f"| {pct(r, 'learning')} | {ent(r, 'dH_early')} | {ent(r, 'dH_late')} |")
    lines.append("\nMeans over seeds with 95% bootstrap CIs: paired differences resample seeds, "
                 "then each seed's "
                 "paired held-out episodes; learning and entropy rows resample seeds. Entropy in nats per "
                 "response token (the masked distribution under constrained decoding).")
    return "\n".join(lines) + "\n"


def plot_entropy_diff(results: list, reference: str, out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {(r.algo, r.seed): r for r in results}
    algos = [a for a in dict.fromkeys(r.algo for r in results) if a != reference]
    if not algos:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, algo in enumerate(algos):
        curves = []
        for (a, s), run in by.items():
            if a != algo or (reference, s) not in by:
                continue
            ea, er = _series(run, "policy_entropy"), _series(by[(reference, s)], "policy_entropy")
            curves.append({t: ea[t] - er[t] for t in set(ea) & set(er)})
        steps = sorted(set().union(*curves)) if curves else []
        if not steps:
            continue
        m = [np.mean([c[t] for c in curves if t in c]) for t in steps]
        se = [np.std([c[t] for c in curves if t in c]) / max(1, np.sqrt(sum(t in c for c in curves)))
              for t in steps]
        ax.plot(steps, m, color=f"C{i + 1}", label=f"{algo} (mean of {len(curves)} seeds)")
        ax.fill_between(steps, np.subtract(m, se), np.add(m, se), color=f"C{i + 1}", alpha=0.15)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"policy entropy − {reference} (same seed)")
    ax.set_title("entropy relative to the reference arm (±1 s.e. over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    p = out / "entropy_diff.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
