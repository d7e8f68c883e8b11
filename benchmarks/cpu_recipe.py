"""The CPU recipe's GRPO vs GRPO+AEM over seeds: held-out success, wall time per run, ratios against GRPO.

    .venv/bin/python -m benchmarks.cpu_recipe [--recipe cpu-tiny-household] [--seeds 3] [--steps N]

Trains (or reuses finished runs under ``runs/baselines/``) and writes the comparison (table, CSV, PNG plots
of success and policy entropy over steps) to ``runs/compare/<recipe>/``, like ``aem compare``. Each run's
wall time comes from its metrics (SFT + RL + evals are all inside ``fit``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="cpu-tiny-household")
    ap.add_argument("--algos", default="grpo,grpo+aem")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table
    from tqdm import tqdm

    from aem_gym.baselines.compare import summarise, train_or_load, write_outputs
    from aem_gym.baselines.config import load_config

    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    results, wall = [], {}
    jobs = [(a, s) for s in range(args.seeds) for a in algos]
    for algo, seed in tqdm(jobs, desc="runs"):
        over = {"algo": algo, "seed": seed}
        if args.steps is not None:
            over["rl.steps"] = args.steps
        cfg = load_config(args.recipe, overrides=over)
        t0 = time.perf_counter()
        results.append(train_or_load(cfg, progress=True, log=tqdm.write))
        wall[(cfg.algo, seed)] = time.perf_counter() - t0
    out = Path(args.out) if args.out else Path("runs") / "compare" / args.recipe
    write_outputs(results, out)
    rows = [r for r in summarise(results) if r["task_type"] == "all"]
    ref = next((r for r in rows if r["algo"] == algos[0]), None)
    table = Table(title=f"{args.recipe}: held-out success over {args.seeds} seed(s) (reference: {algos[0]})")
    for c in ("algo", "success %", "95% CI", "vs reference", "mean wall s/run (this process)"):
        table.add_column(c, justify="right" if c != "algo" else "left")
    for r in rows:
        ratio = r["success"] / ref["success"] if ref and ref["success"] > 0 else float("nan")
        walls = [w for (a, _), w in wall.items() if a == r["algo"]]
        table.add_row(r["algo"], f"{100 * r['success']:.1f}",
                      f"[{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]",
                      f"{ratio:.2f}x", f"{sum(walls) / max(len(walls), 1):.0f}")
    Console().print(table)
    print(f"table, CSV and plots: {out}/ (reused runs show ~0 s wall time)")


if __name__ == "__main__":
    main()
