"""Bring your own repository: one bug of a local git repo becomes a SWE task row in a task folder.

    python -m aem_envs.swe.build --repo ~/src/mylib --base 1a2b3c --fix 4d5e6f --tests 4d5e6f \\
        --test-cmd "python3 -m pytest -rA tests/test_parse.py" --problem issue.md --out ~/tasks/mylib
    aem swe add ...      # the same, from the aem command line

* ``--fix`` / ``--tests``: a commit (diffed against ``--base``) or a patch file. The same commit for both
  (a merged pull request) is split the SWE-bench way: test files and test configuration
  (``test_spec.is_protected``) go to the test patch, the rest is the fix.
* The tests run in a sandbox (``--runtime``, bwrap by default) at base + test patch and at base + test patch
  + fix, ``--runs`` times each (2 by default). ``FAIL_TO_PASS``: PASSED in every run with the fix and in
  none without; ``PASS_TO_PASS``: PASSED in every run; a test whose status changes between runs of the
  same tree is flaky and left out (listed). No FAIL_TO_PASS test is an error: the tests do not show the bug.
* ``-r REQUIREMENT`` (pip) builds a harness-layout image for the repo (``harness_image``), and the row runs
  in that image (runtime docker); without, the row carries its ``bundle`` and runs on either runtime with
  the sandbox's Python (Debian's python3 with pytest).
* The folder gets ``bundles/<id>.bundle`` (a one-commit bundle: the base commit only, no history), the
  repo's licence file if it has one, ``tasks.jsonl.gz`` (rows checked by ``rows.prepare``; adding to an
  existing folder keeps its other rows) and a hashed ``manifest.json``. Load it with
  ``aem_envs.make("aem/SWERepair-v0", instances_source=FOLDER)``. Every row names a local ``image``
  (``sweb.eval.x86_64.<id>:latest``) and an ``eval_script`` in swebench's shape, so swebench's own
  harness grades it once that image is built (``python -m aem_envs.swe.images build``).

Checkouts of your repository live in the user cache (``aem_envs.paths.cache_dir``), never in the project.
docs/swe-bring-your-own.md walks through an example.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aem_envs.swe import derive, harness_image, repos, rows
from aem_envs.swe.test_spec import is_protected, make_eval_script
from aem_envs.tasks import MANIFEST_NAME, TaskSet, write_manifest

# Rows with requirements run in their harness image, whose test environment is the conda-style env; rows
# without run on the sandbox's own Python (Debian's python3 and pytest), in the image too.
ACTIVATE = "source /opt/miniconda3/bin/activate testbed"
LICENSES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENSE.rst", "COPYING", "LICENCE")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class BuildError(ValueError):
    """The task cannot be built; the message says which input to change."""


@dataclass
class Spec:
    """What the user gave (see the module docstring)."""

    repo: Path
    base: str
    fix: str
    tests: str
    test_cmd: str
    problem: str
    out: Path
    instance_id: str = ""
    runtime: str = "bwrap"
    runs: int = 2
    requirements: list[str] = field(default_factory=list)
    log_parser: str = "parse_log_pytest"
    split: str = "test"
    repo_name: str = ""


def _git(repo: Path, *args: str) -> str:
    try:
        return repos.git(*args, cwd=repo)
    except RuntimeError as e:
        raise BuildError(str(e)) from None


def _resolve(repo: Path, rev: str, what: str) -> str:
    try:
        return repos.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=repo).strip()
    except RuntimeError:
        raise BuildError(f"{what} {rev!r} is neither a patch file nor a commit of {repo}") from None


def _diff(repo: Path, base: str, rev: str, keep) -> str:
    files = [f for f in _git(repo, "diff", "--name-only", "--no-renames", base, rev).splitlines() if keep(f)]
    return _git(repo, "diff", "--no-color", "--no-ext-diff", "--no-renames", "--full-index", base, rev, "--",
                *files) if files else ""


def patches(spec: Spec, base: str) -> tuple[str, str]:
    """(fix patch, test patch) from commits or patch files (see the module docstring)."""
    out = []
    for arg, what, keep in ((spec.fix, "--fix", lambda f: not is_protected(f)),
                            (spec.tests, "--tests", is_protected)):
        p = Path(arg).expanduser()
        if p.is_file():
            out.append(p.read_text(encoding="utf-8"))
        else:
            rev = _resolve(spec.repo, arg, what)
            same = spec.fix == spec.tests
            out.append(_diff(spec.repo, base, rev, keep if same else (lambda f: True)))
    fix, tests = out
    for text, what in ((fix, "fix"), (tests, "tests")):
        if "\n+++ " not in text and "\nrename to " not in text:
            raise BuildError(f"the {what} patch is empty: nothing differs from the base commit")
    from aem_envs.swe.test_spec import patch_files

    touched = [f for f in sum(patch_files(fix), []) if is_protected(f)]
    if touched:
        raise BuildError(f"the fix changes test files or test configuration {touched[:5]}: those belong in "
                         "--tests (the grader discards an agent's changes to them)")
    return fix, tests


# -- running the tests -------------------------------------------------------------------------------------
def _parse(output: str, parser: str) -> dict[str, str]:
    from swebench.harness.log_parsers import PARSER_REGISTRY

    return PARSER_REGISTRY[parser](output, None)


def run_tests(spec: Spec, tree: Path, image: str | None,
              applied: Sequence[str]) -> tuple[dict[str, str], int, str]:
    """One run of ``spec.test_cmd`` on ``tree`` (or in ``image``) with ``applied`` patches: (statuses by
    test id, exit code, output)."""
    from aem_envs.swe.sandbox import Limits, SandboxSpec, create_sandbox

    limits = Limits(timeout_s=600, max_output_bytes=32 << 20)
    with tempfile.TemporaryDirectory() as tmp:
        if image is None:
            work = Path(tmp) / "t"
            shutil.copytree(tree, work, symlinks=True)
            for p in applied:
                repos.git("apply", "--whitespace=nowarn", "-", cwd=work, input=p.encode())
            sb_spec = SandboxSpec(spec.instance_id, source_dir=work, limits=limits)
            runtime, prep = spec.runtime, ""
        else:
            sb_spec, runtime = SandboxSpec(spec.instance_id, image=image, limits=limits), "docker"
            prep = "".join(f"git apply --whitespace=nowarn - <<'AEM_PATCH_{i}'\n{p}\nAEM_PATCH_{i}\n"
                           for i, p in enumerate(applied))
        with create_sandbox(runtime, sb_spec) as sb:
            activate = f"{ACTIVATE}\n" if image else ""
            r = sb.exec(f"{prep}{activate}{spec.test_cmd}", timeout=600)
    return _parse(r.output, spec.log_parser), r.exit_code, r.output


@dataclass
class Outcome:
    f2p: list[str]
    p2p: list[str]
    flaky: list[str]
    gold_exit_code: int | None


def classify(before: Sequence[dict[str, str]], after: Sequence[dict[str, str]],
             after_rcs: Sequence[int]) -> Outcome:
    """FAIL_TO_PASS / PASS_TO_PASS from repeated runs without and with the fix; tests whose status differs
    between runs of the same tree are flaky and left out."""
    ids = sorted(set().union(*before, *after))
    flaky = [t for t in ids if len({r.get(t) for r in before}) > 1 or len({r.get(t) for r in after}) > 1]
    stable = [t for t in ids if t not in flaky]
    f2p = [t for t in stable if after[0].get(t) == "PASSED" and before[0].get(t) != "PASSED"]
    p2p = [t for t in stable if after[0].get(t) == "PASSED" and before[0].get(t) == "PASSED"]
    rc = after_rcs[0] if len(set(after_rcs)) == 1 else None
    return Outcome(f2p, p2p, flaky, rc)


# -- writing the folder ------------------------------------------------------------------------------------
def _read_rows(out: Path) -> list[dict[str, Any]]:
    if not (out / MANIFEST_NAME).is_file():
        return []
    ts = TaskSet(out)
    return [dict(ts.get(i)) for s in ts.splits() for i in ts.ids(s)]


def write_folder(out: Path, row: dict[str, Any], bundle: Path, split: str, license_file: Path | None) -> None:
    """Add ``row`` (replacing one of the same id) to the task folder ``out`` and rewrite its manifest."""
    out.mkdir(parents=True, exist_ok=True)
    old = [r for r in _read_rows(out) if r["instance_id"] != row["instance_id"]]
    dest = out / "bundles" / f"{row['instance_id']}.bundle"
    dest.parent.mkdir(exist_ok=True)
    shutil.copy(bundle, dest)
    if license_file is not None:
        shutil.copy(license_file, out / "bundles" / f"{row['instance_id']}.{license_file.name}")
    all_rows = [*old, row]
    rows.prepare(all_rows, source=str(out), folder=out)  # never write a row the env would refuse
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        for r in all_rows:
            gz.write((json.dumps(r, sort_keys=True) + "\n").encode())
    (out / "tasks.jsonl.gz").write_bytes(buf.getvalue())
    splits: dict[str, list[str]] = {}
    for r in all_rows:
        splits.setdefault(r.get("split") or split, []).append(r["instance_id"])
    write_manifest(out, out.name or "swe-byo", "v0", splits, extra={"kind": "swe-byo"})


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(spec: Spec) -> dict[str, Any]:
    """Build, validate and write one task (see the module docstring); returns its row."""
    spec.repo = spec.repo.expanduser().resolve()
    if not (spec.repo / ".git").exists():
        raise BuildError(f"--repo {spec.repo} is not a git repository (no .git)")
    base = _resolve(spec.repo, spec.base, "--base")
    name = spec.repo_name or f"local/{spec.repo.name}"
    iid = spec.instance_id or f"{name.replace('/', '__')}-1"
    if not _ID.match(iid) or "/" in iid:
        raise BuildError(f"instance id {iid!r}: use letters, digits, '.', '_' and '-' (e.g. owner__repo-12)")
    spec.instance_id = iid
    fix, tests = patches(spec, base)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = repos.one_commit_bundle(spec.repo, base, Path(tmp) / "repo.bundle")
        tree = repos.checkout(bundle, base)  # in the user cache
        image = None
        if spec.requirements:
            row0 = {"instance_id": iid, "repo": name, "base_commit": base, "version": ""}
            recipe = harness_image.recipe_for(row0, bundle, requirements=spec.requirements)
            image = harness_image.build(recipe, bundle, derive.image_name(row0, "local"))
        before, after, rcs = [], [], []
        for i in range(spec.runs):
            where = spec.runtime if image is None else image
            _log(f"[{iid}] run {i + 1}/{spec.runs}: tests without the fix, then with it ({where})")
            before.append(run_tests(spec, tree, image, [tests])[0])
            status, rc, log = run_tests(spec, tree, image, [tests, fix])
            after.append(status)
            rcs.append(rc)
        if not after[0]:
            raise BuildError(f"the test command reported no tests ({spec.log_parser}); its output ends:\n"
                             f"{log[-1500:]}")
        res = classify(before, after, rcs)
        if not res.f2p:
            raise BuildError("no test fails without the fix and passes with it: the tests do not show the "
                             f"bug (with the fix: {sorted(set(after[0].values()))}; flaky: {res.flaky[:10]})")
        row = {
            "instance_id": iid, "repo": name, "base_commit": base, "environment_setup_commit": base,
            "problem_statement": spec.problem, "hints_text": "", "created_at": "", "version": "",
            "patch": fix, "test_patch": tests, "FAIL_TO_PASS": json.dumps(res.f2p),
            "PASS_TO_PASS": json.dumps(res.p2p),
            "image": image or derive.image_name({"instance_id": iid}, "local"),
            "eval_script": make_eval_script(base, tests, spec.test_cmd, setup=[ACTIVATE] if image else []),
            "log_parser": spec.log_parser, "eval_type": "pass_and_fail", "gold_exit_code": res.gold_exit_code,
            "split": spec.split, "flaky_tests": res.flaky,
        }
        row["bundle" if image is None else "source_bundle"] = f"bundles/{iid}.bundle"
        lic = next((spec.repo / n for n in LICENSES if (spec.repo / n).is_file()), None)
        write_folder(spec.out.expanduser(), row, bundle, spec.split, lic)
    _log(f"[{iid}] FAIL_TO_PASS {len(res.f2p)}, PASS_TO_PASS {len(res.p2p)}, "
         f"flaky left out {len(res.flaky)}; written to {spec.out}")
    return row


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", required=True, type=Path, help="a local git repository")
    p.add_argument("--base", required=True, help="the commit the task starts from (the bug is present)")
    p.add_argument("--fix", required=True, help="the fix: a commit (diffed against --base) or a patch file")
    p.add_argument("--tests", required=True, help="tests that show the bug: a commit or a patch file")
    p.add_argument("--test-cmd", required=True, help='e.g. "python3 -m pytest -rA tests/test_x.py"')
    p.add_argument("--problem", required=True, help="the issue text, or @FILE to read it from a file")
    p.add_argument("--out", required=True, type=Path, help="the task folder (created, or added to)")
    p.add_argument("--instance-id", default="", help="default: local__<repo folder>-1")
    p.add_argument("--repo-name", default="", help="owner/name for the row's repo field")
    p.add_argument("--runtime", default="bwrap", choices=["bwrap", "docker"])
    p.add_argument("--runs", type=int, default=2, help="runs per tree; tests that change status are left out")
    p.add_argument("-r", "--requirement", action="append", default=[],
                   help="a pip requirement of the tests: builds a harness image and runs the row in it")
    p.add_argument("--log-parser", default="parse_log_pytest", help="a name in swebench's PARSER_REGISTRY")
    p.add_argument("--split", default="test")


def spec_from_args(args: argparse.Namespace) -> Spec:
    problem = args.problem
    if problem.startswith("@"):
        path = Path(problem[1:]).expanduser()
        if not path.is_file():
            raise BuildError(f"--problem {problem}: no such file")
        problem = path.read_text(encoding="utf-8")
    if args.runs < 2:
        raise BuildError("--runs must be at least 2 (flaky tests are found by repeating runs)")
    return Spec(repo=args.repo, base=args.base, fix=args.fix, tests=args.tests, test_cmd=args.test_cmd,
                problem=problem, out=args.out, instance_id=args.instance_id, runtime=args.runtime,
                runs=args.runs, requirements=args.requirement, log_parser=args.log_parser, split=args.split,
                repo_name=args.repo_name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aem_envs.swe.build", description=__doc__.splitlines()[0])
    add_arguments(ap)
    try:
        build(spec_from_args(ap.parse_args(argv)))
    except (BuildError, rows.InvalidInstances, harness_image.BuildError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
