"""``aem compare --recipe R --algos grpo,grpo+aem --seeds 3``: train every (algo, seed), evaluate on
held-out tasks, write a table (mean ± bootstrap CI, per task type), CSV metrics and PNG plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from aem_gym.cli.main import command


@command("compare", "train several algorithms over seeds and compare them on held-out tasks")
def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", default="cpu-tiny-household")
    p.add_argument("--algos", default="grpo,grpo+aem",
                   help="comma-separated, e.g. grpo,grpo+aem,grpo+aem-reverse,grpo+aem-shuffle,grpo+empg,"
                        "grpo+clip_cov,grpo+kl_cov (`aem algos` lists estimators and parts)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    p.add_argument("--seed-list", default=None, help="explicit seeds, e.g. 0,1,2 (overrides --seeds)")
    p.add_argument("--steps", type=int, default=None, help="override rl.steps")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override (repeatable)")
    p.add_argument("--out", default=None, help="output folder (default runs/compare/<recipe>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


@configure.handler
def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from aem_gym.baselines.compare import train_or_load, write_outputs
    from aem_gym.cli.commands.train import resolve

    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    if not algos:
        raise ValueError("--algos is empty")
    seeds = [int(s) for s in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
    args.aem, args.run_out = None, None  # compare's algorithms come from --algos only
    jobs = [(a, s) for s in seeds for a in algos]  # seed-major: a partial comparison is still paired
    configs = [resolve(args, algo=a, seed=s) for a, s in jobs]
    results = []
    bar = tqdm(configs, desc="compare", unit="run", disable=args.no_progress)
    for cfg in bar:
        bar.set_postfix(run=cfg.run_name())
        results.append(train_or_load(cfg, progress=not args.no_progress, log=tqdm.write))
    out = Path(args.out) if args.out else Path("runs") / "compare" / configs[0].recipe
    paths = write_outputs(results, out)
    print(paths["table"].read_text(encoding="utf-8"))
    if "paired" in paths:
        print(paths["paired"].read_text(encoding="utf-8"))
    for k, p in paths.items():
        print(f"{k}: {p}")
    return 0
