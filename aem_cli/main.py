"""``aem`` entry point. Subcommands live one per module in ``aem_cli/commands/`` and register themselves
with the ``@command`` decorator; heavy imports (torch, transformers) happen inside the handlers so that
``aem envs`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass

import aem_cli.commands


@dataclass
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str) -> Callable:
    """Decorator for a ``configure(parser)`` function; the returned object's ``.run`` is set by ``handler``."""

    def wrap(configure: Callable[[argparse.ArgumentParser], None]):
        def handler(run: Callable[[argparse.Namespace], int]):
            if name in COMMANDS:
                raise ValueError(f"aem subcommand {name!r} registered twice")
            COMMANDS[name] = Command(name, help, configure, run)
            return run

        configure.handler = handler  # type: ignore[attr-defined]
        return configure

    return wrap


def _load_commands() -> None:
    for mod in pkgutil.iter_modules(aem_cli.commands.__path__):
        importlib.import_module(f"aem_cli.commands.{mod.name}")


def build_parser() -> argparse.ArgumentParser:
    _load_commands()
    parser = argparse.ArgumentParser(prog="aem", description="aem-gym: multi-turn text envs, agents, RL with AEM")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in sorted(COMMANDS):
        cmd = COMMANDS[name]
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a clear one-line error for user mistakes; AEM_DEBUG=1 shows the traceback
        import os

        from gymnasium.error import Error as GymError

        if os.environ.get("AEM_DEBUG") or not isinstance(e, GymError | ValueError | FileNotFoundError | KeyError):
            raise
        print(f"aem {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
