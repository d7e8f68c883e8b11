"""``aem envs``: list the registered envs (ours and the plugins')."""

from __future__ import annotations

import argparse

from aem_gym.cli.registry import command


@command("envs", "list registered environments")
def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all", action="store_true", help="include gymnasium's own envs")
    p.add_argument("pattern", nargs="?", default="", help="only ids containing this text (case-insensitive)")


@configure.handler
def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    import aem_envs
    from aem_envs.registration import load_plugins

    table = Table(title="registered environments")
    table.add_column("id", no_wrap=True)  # ids are what people copy: never cut them
    table.add_column("source", no_wrap=True, min_width=7)
    table.add_column("max steps", justify="right", min_width=5)
    table.add_column("entry point", overflow="ellipsis", no_wrap=True)
    rows = [r for r in aem_envs.list_envs(include_gymnasium=args.all) if args.pattern.lower() in r.id.lower()]
    for r in rows:
        table.add_row(r.id, r.source, str(r.max_episode_steps or "-"), r.entry_point)
    # Piped output (scripts, logs) gets the full width instead of an 80-column squeeze.
    console = Console() if Console().is_terminal else Console(width=200)
    console.print(table)
    console.print(f"{len(rows)} environments")
    for name, err in load_plugins().items():
        console.print(f"[red]plugin {name} failed to load:[/red] {err}")
    return 0
