"""Harness images of SWE-bench rows: is it here, and if not, the exact command that gets it.

    python -m aem_envs.swe.images check --instances SOURCE [--image-naming local]
    python -m aem_envs.swe.images build --instances SOURCE --instance-id ID (--repo CLONE | --bundle FILE)
                                        [-r REQUIREMENT ...] [--tag TAG]

A row without a bundled repository runs in its ``image`` (runtime docker). Images come from two places:
the harness's published ones (``swebench/sweb.eval.x86_64.<id, "__" as "_1776_">:latest``; ``docker pull``
where Docker Hub is reachable, then ``docker save``/``docker load`` to bring them here) and local builds
(``sweb.eval.x86_64.<id>:latest``, as swebench names them; ``build`` here makes one from a clone of the
repository with ``harness_image``). ``require`` is what ``reset()`` calls: a missing image is one error
naming both commands, never an empty ``/testbed``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aem_envs.swe.sandbox import SandboxError


class ImageMissing(SandboxError):
    """A row's image is not in the local Docker engine; the message names the commands that get it."""


def present(image: str) -> bool:
    from aem_envs.swe.sandbox.docker import docker_client

    client = docker_client()
    if client is None:
        return False
    try:
        client.images.get(image)
        return True
    except Exception:
        return False


def how_to_get(row: Mapping[str, Any], source: str | None) -> str:
    """The commands that put ``row["image"]`` into the local engine (pull, or build from a clone)."""
    image, iid = row["image"], row["instance_id"]
    src = shlex.quote(str(source)) if source else "<instances source>"
    pull = (f"  docker pull {image}   (where Docker Hub is reachable; then `docker save {image} | gzip > "
            "img.tgz` and here `docker load -i img.tgz`)\n") if "/" in image.split(":")[0] else ""
    build_from = "" if row.get("bundle") or row.get("source_bundle") else \
        f" --repo <a clone of https://github.com/{row['repo']}>"
    return (f"{pull}  python -m aem_envs.swe.images build --instances {src} --instance-id {iid}{build_from} "
            f"--tag {image}   (a harness-layout image built here; add -r REQUIREMENT for test dependencies "
            "the row's spec does not list; docs/swe-rows.md)")


def require(row: Mapping[str, Any], source: str | None = None) -> None:
    """ImageMissing unless ``row["image"]`` is in the local engine."""
    if not present(row["image"]):
        raise ImageMissing(f"{row['instance_id']}: Docker image {row['image']!r} is not in the local engine "
                           "(images are never pulled while an env runs). Get it with:\n"
                           f"{how_to_get(row, source)}")


# -- command line -----------------------------------------------------------------------------------------
def _rows(args) -> Any:
    from aem_envs.swe import instances

    return instances.load(args.instances, image_naming=args.image_naming, specs=args.specs)


def _check(args) -> int:
    ts, missing = _rows(args), 0
    for split in ts.splits():
        for iid in ts.ids(split):
            row = ts.get(iid)
            if row.get("bundle"):
                continue
            ok = present(row["image"])
            missing += not ok
            print(f"{'ok     ' if ok else 'MISSING'} {iid}  {row['image']}")
            if not ok:
                print(how_to_get(row, args.instances))
    return 1 if missing else 0


def _build(args) -> int:
    from aem_envs.swe import harness_image, repos

    row = dict(_rows(args).get(args.instance_id))
    tag = args.tag or row["image"]
    given = args.bundle or row.get("bundle") or row.get("source_bundle")  # rows we write name their bundle
    with tempfile.TemporaryDirectory() as tmp:
        if given and not args.repo:
            bundle = Path(given).expanduser()
            if not bundle.is_absolute() and not bundle.is_file():
                src = Path(args.instances).expanduser()
                bundle = (src.parent if src.is_file() else src) / given
            if not bundle.is_file():
                raise SystemExit(f"bundle {given!r} not found (relative paths are next to the rows)")
        elif args.repo:
            bundle = repos.one_commit_bundle(Path(args.repo).expanduser(), row["base_commit"],
                                             Path(tmp) / "r.bundle")
        else:
            raise SystemExit("give --repo (a local clone of the row's repository) or --bundle")
        recipe = harness_image.recipe_for(row, bundle, requirements=args.requirement, specs=args.specs)
        print(harness_image.build(recipe, bundle, tag, force=args.force))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aem_envs.swe.images", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("check", "build"):
        p = sub.add_parser(name)
        p.add_argument("--instances", required=True, help="rows: a file, a folder, or a cached HF dataset id")
        p.add_argument("--image-naming", default=None, help="harness | local | a format string such as "
                       "'sweb.eval.x86_64.{id}:v1'")
        p.add_argument("--specs", default=None, help="JSON specs for repos swebench 4.1.0 does not know")
    b = sub.choices["build"]
    b.add_argument("--instance-id", required=True)
    b.add_argument("--repo", help="a local clone of the row's repository (any history holding base_commit)")
    b.add_argument("--bundle", help="a git bundle holding base_commit (relative: next to the rows)")
    b.add_argument("-r", "--requirement", action="append", default=[], help="an extra pip requirement")
    b.add_argument("--tag", help="the image name (default: the row's image)")
    b.add_argument("--force", action="store_true", help="rebuild even if an identical image exists")
    args = ap.parse_args(argv)
    return {"check": _check, "build": _build}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
