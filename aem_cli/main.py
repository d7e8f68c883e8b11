"""``aem`` entry point. Subcommands live one per module in ``aem_cli/commands/`` and register themselves
with ``aem_gym.cli.registry.command``; heavy imports (torch, transformers) happen inside the handlers so that
``aem envs`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from aem_gym.cli import commands as _commands
from aem_gym.cli.registry import COMMANDS, command  # noqa: F401  (command re-exported for subcommand modules)

# Errors that are the user's to fix: shown as one line (AEM_DEBUG=1 shows the traceback).
_USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, KeyError, PermissionError)


def _load_commands() -> None:
    for mod in pkgutil.iter_modules(_commands.__path__):
        importlib.import_module(f"aem_gym.cli.commands.{mod.name}")


def build_parser() -> argparse.ArgumentParser:
    _load_commands()
    parser = argparse.ArgumentParser(prog="aem",
                                     description="aem-gym: multi-turn text envs, agents, RL with AEM")
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
    except Exception as e:
        from gymnasium.error import Error as GymError

        if os.environ.get("AEM_DEBUG") or not isinstance(e, (GymError, *_USER_ERRORS)):
            raise
        print(f"aem {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
