"""``aem train --recipe R --algo grpo --aem on|off --seed S``: one RL run (SFT warm start if the recipe
has one), checkpoints and metrics under ``runs/baselines/<recipe>-<algo>-seed<S>/``."""

from __future__ import annotations

import argparse

from aem_gym.cli.main import command


@command("train", "train a policy with an RL recipe (GRPO, RLOO, DAPO, GSPO, GiGPO; AEM on/off)")
def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", default="cpu-tiny-household",
                   help="recipe name in baselines/recipes/ or a YAML path")
    p.add_argument("--algo", default=None,
                   help="estimator plus parts, e.g. grpo, dapo+aem, rloo+empg, grpo+clip_cov "
                   "(`aem algos` lists them)")
    p.add_argument("--aem", choices=["on", "off"], default=None, help="AEM advantage modulation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="override rl.steps")
    p.add_argument("--out", dest="run_out", default=None,
                   help="run directory (default runs/baselines/<recipe>-<algo>-seed<S>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set rollout.group_size=8 (repeatable)")
    p.add_argument("--no-resume", action="store_true", help="start over even if checkpoints exist")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def resolve(args: argparse.Namespace, algo: str | None = None, seed: int | None = None):
    """Config from the CLI arguments (shared with ``aem compare``)."""
    from aem_gym.baselines.config import load_config, recipe_algo, with_aem

    overrides: dict = {"seed": args.seed if seed is None else seed}
    algo = algo or args.algo
    if getattr(args, "aem", None) is not None:
        algo = with_aem(algo or recipe_algo(args.recipe), args.aem == "on")
    if algo:
        overrides["algo"] = algo
    if getattr(args, "steps", None) is not None:
        overrides["rl.steps"] = args.steps
    if getattr(args, "run_out", None):
        overrides["out_dir"] = args.run_out
    return load_config(args.recipe, overrides=overrides, sets=args.set)


@configure.handler
def run(args: argparse.Namespace) -> int:
    from aem_gym.baselines.trainer import Trainer

    cfg = resolve(args)
    out = cfg.output_dir()
    print(f"training {cfg.run_name()} -> {out}")
    trainer = Trainer(cfg, progress=not args.no_progress, log=print)
    final = trainer.fit(resume=not args.no_resume)
    print(f"final success on {final['eval/split']} ({final['eval/episodes']} episodes): "
          f"{final['eval/success']:.3f}")
    print(f"checkpoint: {out / 'final'} (agent spec hf:{out / 'final'}); metrics: {out / 'metrics.csv'}")
    return 0
