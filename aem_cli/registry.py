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

from aem_envs.registry import Registry


@dataclass
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: Registry[Command] = Registry("aem subcommand")


def command(name: str, help: str) -> Callable:
    """Decorate a ``configure(parser)`` function; decorate its handler with ``@configure.handler``."""

    def wrap(configure: Callable[[argparse.ArgumentParser], None]):
        def handler(run: Callable[[argparse.Namespace], int]):
            COMMANDS.register(name, Command(name, help, configure, run))
            return run

        configure.handler = handler  # type: ignore[attr-defined]
        return configure

    return wrap
