"""``aem check ENV_ID``: the text-aware env checker."""

from __future__ import annotations

import argparse

from aem_gym.cli.registry import command


@command("check", "check an environment against the text-env contract")
def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("env_id")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=6, help="length of the random walks")
    p.add_argument("--max-admissible", type=int, default=12, help="admissible actions probed per state")
    p.add_argument("--fuzz", type=int, default=48, help="random actions on top of the hostile ones")


@configure.handler
def run(args: argparse.Namespace) -> int:
    import aem_envs

    report = aem_envs.check(args.env_id, seed=args.seed, steps=args.steps, max_admissible=args.max_admissible,
                            fuzz=args.fuzz, raise_on_error=False)
    print(report)
    return 0 if report.ok else 1
