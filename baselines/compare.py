"""Compare algorithms over seeds: train each (algo, seed) run (or reuse a finished one), evaluate on
held-out tasks, and write

    <out>/summary.csv        algo, task_type, success mean, 95% bootstrap CI, episodes, seeds
    <out>/table.md           the same as a Markdown table
    <out>/metrics.csv        every run's per-step metrics with algo and seed columns
    <out>/success.png        eval (held-out) and train success over steps, mean over seeds + each seed
    <out>/entropy.png        policy entropy over steps (the AEM paper's entropy-dynamics plot)
    <out>/paired.md|csv      each arm against the first: paired success differences, learning, entropy
    <out>/entropy_diff.png   entropy minus the first arm's, same seed, over steps (baselines/paired.py)

The CI is a stratified bootstrap: seeds are resampled with replacement, then episodes within each drawn
seed, so seed-to-seed variance is part of the interval.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aem_gym.baselines.config import TrainConfig


@dataclass
class RunResult:
    algo: str
    seed: int
    run_dir: Path
    final: dict[str, Any]
    history: list[dict[str, Any]]


def train_or_load(cfg: TrainConfig, progress: bool, log: Callable[[str], None]) -> RunResult:
    """Reuse ``<run>/final/eval.json`` when the run has finished; otherwise train (resuming if possible)."""
    import pandas as pd

    run_dir = cfg.output_dir()
    done = run_dir / "final" / "eval.json"
    if done.exists():
        log(f"{cfg.run_name()}: finished run found, reusing {run_dir}")
    else:
        from aem_gym.baselines.trainer import Trainer

        Trainer(cfg, progress=progress, log=log).fit(resume=True)
    final = json.loads(done.read_text(encoding="utf-8"))
    hist = (pd.read_csv(run_dir / "metrics.csv").to_dict("records") if (run_dir / "metrics.csv").exists()
            else [])
    return RunResult(cfg.algo, cfg.seed, run_dir, final, hist)


def bootstrap_ci(per_seed: list[np.ndarray], n_boot: int = 2000, level: float = 0.95,
                 rng: np.random.Generator | None = None) -> tuple[float, float, float]:
    """Mean and stratified-bootstrap CI of a success rate from per-seed 0/1 arrays."""
    per_seed = [np.asarray(x, dtype=float) for x in per_seed if len(x)]
    if not per_seed:
        return float("nan"), float("nan"), float("nan")
    rng = rng or np.random.default_rng(0)
    mean = float(np.mean(np.concatenate(per_seed)))
    stats = np.empty(n_boot)
    k = len(per_seed)
    for b in range(n_boot):
        picks = rng.integers(k, size=k)
        vals = [per_seed[i][rng.integers(len(per_seed[i]), size=len(per_seed[i]))] for i in picks]
        stats[b] = np.concatenate(vals).mean()
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return mean, float(lo), float(hi)


def summarise(results: list[RunResult]) -> list[dict[str, Any]]:
    rows = []
    algos = list(dict.fromkeys(r.algo for r in results))
    for algo in algos:
        runs = [r for r in results if r.algo == algo]
        types = sorted({e["task_type"] for r in runs for e in r.final.get("episodes", [])})
        for tt in ["all", *types]:
            per_seed = [np.array([e["won"] for e in r.final.get("episodes", [])
                                  if tt == "all" or e["task_type"] == tt])
                        for r in runs]
            mean, lo, hi = bootstrap_ci(per_seed)
            rows.append({"algo": algo, "task_type": tt, "success": mean, "ci_low": lo, "ci_high": hi,
                         "episodes": int(sum(len(x) for x in per_seed)), "seeds": len(runs)})
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    types = list(dict.fromkeys(r["task_type"] for r in rows))
    algos = list(dict.fromkeys(r["algo"] for r in rows))
    cell = {(r["algo"], r["task_type"]): r for r in rows}
    lines = ["| algo | " + " | ".join(types) + " |", "|---|" + "---|" * len(types)]
    for a in algos:
        cells = []
        for t in types:
            r = cell.get((a, t))
            cells.append("–" if r is None else f"{100 * r['success']:.1f} [{100 * r['ci_low']:.1f}, "
                         f"{100 * r['ci_high']:.1f}]")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    seeds = max((r["seeds"] for r in rows), default=0)
    lines.append(f"\nSuccess % on held-out tasks, mean [95% stratified bootstrap CI] over {seeds} seed(s).")
    return "\n".join(lines) + "\n"


def plot(results: list[RunResult], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frames = []
    for r in results:
        if r.history:
            df = pd.DataFrame(r.history)
            df["algo"], df["seed"] = r.algo, r.seed
            frames.append(df)
    if not frames:
        return []
    df = pd.concat(frames, ignore_index=True)
    paths = []
    panels = [("success.png",
               [("eval", "eval/success", "held-out success"), ("train", "train/success", "train success")]),
              ("entropy.png", [("train", "policy_entropy", "policy entropy (nats/token)")])]
    for name, specs in panels:
        fig, axes = plt.subplots(1, len(specs), figsize=(5.5 * len(specs), 4), squeeze=False)
        for ax, (kind, col, title) in zip(axes[0], specs, strict=True):
            sub = df[df["kind"] == kind]
            if col not in sub:
                continue
            # The final evaluation runs on eval.final_episodes tasks, not the periodic evaluation's sample:
            # it is drawn as its own marker, never joined to the curve (a different task set).
            final = df[df["kind"] == "final"] if kind == "eval" and col in df else sub.iloc[:0]
            for i, algo in enumerate(dict.fromkeys(sub["algo"])):
                a = sub[sub["algo"] == algo].dropna(subset=[col])
                color = f"C{i}"
                for _, s in a.groupby("seed"):
                    ax.plot(s["step"], s[col], color=color, alpha=0.25, lw=0.8)
                m = a.groupby("step")[col].mean()
                ax.plot(m.index, m.values, color=color, lw=2, label=f"{algo} (mean of {a['seed'].nunique()})")
                f = final[final["algo"] == algo].dropna(subset=[col])
                if len(f):
                    n = int(f["eval/episodes"].iloc[0]) if "eval/episodes" in f else None
                    ax.scatter([f["step"].max()], [f[col].mean()], color=color, marker="D", zorder=3,
                               label=f"{algo} final ({n} tasks, mean)" if n else f"{algo} final (mean)")
            ax.set_xlabel("training step")
            ax.set_title(title)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        p = out / name
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def write_outputs(results: list[RunResult], out: Path, reference: str | None = None) -> dict[str, Path]:
    """All outputs; with several arms also ``paired.md``/``paired.csv`` and ``entropy_diff.png`` against
    ``reference`` (default: the first arm), see ``baselines/paired.py``."""
    import pandas as pd

    from aem_gym.baselines import paired

    out.mkdir(parents=True, exist_ok=True)
    rows = summarise(results)
    pd.DataFrame(rows).to_csv(out / "summary.csv", index=False)
    (out / "table.md").write_text(markdown_table(rows), encoding="utf-8")
    frames = [pd.DataFrame(r.history).assign(algo=r.algo, seed=r.seed) for r in results if r.history]
    if frames:
        pd.concat(frames, ignore_index=True).to_csv(out / "metrics.csv", index=False)
    paths = {"summary": out / "summary.csv", "table": out / "table.md", "metrics": out / "metrics.csv"}
    for p in plot(results, out):
        paths[p.stem] = p
    algos = list(dict.fromkeys(r.algo for r in results))
    if len(algos) > 1:
        ref = reference or algos[0]
        prow = paired.paired_rows(results, ref)
        pd.DataFrame(prow).to_csv(out / "paired.csv", index=False)
        (out / "paired.md").write_text(paired.paired_markdown(prow, ref), encoding="utf-8")
        paths.update(paired=out / "paired.md", paired_csv=out / "paired.csv")
        p = paired.plot_entropy_diff(results, ref, out)
        if p is not None:
            paths["entropy_diff"] = p
    return paths
