"""``aem algos``: the advantage estimators and the ``+parts`` an algorithm string can combine them with."""

from __future__ import annotations

import argparse

from aem_gym.cli.registry import command


@command("algos", "list the RL estimators and the parts (AEM, EMPG, Clip-Cov, ...) they combine with")
def configure(p: argparse.ArgumentParser) -> None:
    return None


@configure.handler
def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from aem_gym.baselines.advantages import ESTIMATORS
    from aem_gym.baselines.config import ALGO_PARTS

    console = Console() if Console().is_terminal else Console(width=200)
    est = Table(title="estimators (the first word of --algo)")
    est.add_column("name", no_wrap=True)
    est.add_column("what it is")
    for name, spec in sorted(ESTIMATORS.items()):
        est.add_row(name, spec.doc.splitlines()[0] if spec.doc else "")
    console.print(est)
    parts = Table(title="parts (+name, any number, with any estimator: e.g. rloo+empg, dapo+aem+clip_cov)")
    parts.add_column("part", no_wrap=True)
    parts.add_column("what it is")
    parts.add_column("sets", overflow="fold")
    for p in ALGO_PARTS.values():
        parts.add_row(p.name, p.doc, ", ".join(f"{k}={v}" for k, v in p.sets.items()))
    console.print(parts)
    return 0
