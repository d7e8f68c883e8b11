"""``aem envs``: list the registered envs (ours and the plugins')."""

from __future__ import annotations

import argparse

from aem_cli.registry import command


@command("envs", "list registered environments")
def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="include gymnasium's own envs")


@configure.handler
def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    import aem_envs
    from aem_envs.registration import load_plugins

    table = Table(title="registered environments")
    for col in ("id", "source", "max steps", "entry point"):
        table.add_column(col)
    rows = aem_envs.list_envs(include_gymnasium=args.all)
    for r in rows:
        table.add_row(r.id, r.source, str(r.max_episode_steps or "-"), r.entry_point)
    console = Console()
    console.print(table)
    for name, err in load_plugins().items():
        console.print(f"[red]plugin {name} failed to load:[/red] {err}")
    return 0
