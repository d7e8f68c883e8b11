"""The subcommand registry: each module in ``aem_cli/commands/`` registers with ``@command``.

Usage::

    @command("envs", "list registered environments")
    def configure(parser): parser.add_argument(...)

    @configure.handler
    def run(args) -> int: ...
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str) -> Callable:
    """Decorate a ``configure(parser)`` function; decorate its handler with ``@configure.handler``."""

    def wrap(configure: Callable[[argparse.ArgumentParser], None]):
        def handler(run: Callable[[argparse.Namespace], int]):
            if name in COMMANDS:
                raise ValueError(f"aem subcommand {name!r} registered twice")
            COMMANDS[name] = Command(name, help, configure, run)
            return run

        configure.handler = handler  # type: ignore[attr-defined]
        return configure

    return wrap
