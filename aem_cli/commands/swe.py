"""``aem swe add|images``: your own repository as SWE tasks, and the harness images of SWE-bench rows.

``aem swe add`` is ``python -m aem_envs.swe.build`` (docs/swe-bring-your-own.md); ``aem swe images
check|build`` is ``python -m aem_envs.swe.images`` (docs/swe-rows.md).
"""

from __future__ import annotations

import argparse
import json

from aem_gym.cli.registry import command


@command("swe", "software-repair tasks: add your own repository (add), SWE-bench images (images)")
def configure(p: argparse.ArgumentParser) -> None:
    from aem_envs.swe import build

    sub = p.add_subparsers(dest="swe_command", metavar="SUBCOMMAND", required=True)
    build.add_arguments(sub.add_parser("add", help="turn a bug of a local git repo into a task row",
                                       description=build.__doc__.splitlines()[0]))
    images = sub.add_parser("images", help="check or build the Docker images of SWE-bench rows")
    images.add_argument("args", nargs=argparse.REMAINDER, help="check|build ... (see --help of each)")


@configure.handler
def run(args: argparse.Namespace) -> int:
    if args.swe_command == "images":
        from aem_envs.swe import images

        return images.main(args.args)
    from aem_envs.swe import build

    row = build.build(build.spec_from_args(args))
    print(f"{row['instance_id']}: FAIL_TO_PASS {len(json.loads(row['FAIL_TO_PASS']))}, "
          f"PASS_TO_PASS {len(json.loads(row['PASS_TO_PASS']))} -> {args.out}")
    return 0
