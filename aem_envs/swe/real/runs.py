"""Running a task's tests at the base and with the gold patch, and deriving FAIL_TO_PASS / PASS_TO_PASS.

The build's validation (docs/swe-real.md): the test files of the test patch run in the bwrap sandbox with
the project's test environment mounted, twice at the base (release + test patch) and twice with the gold
patch. FAIL_TO_PASS: PASSED in both gold runs and in neither base run; PASS_TO_PASS: PASSED in all four.
A test whose status differs between two runs of the same tree is flaky and is left out, as is one whose
id the log parser cannot tell apart from another's (``Run.ambiguous``); tests that fail
with the gold patch (or are flaky) are deselected in the test command, so the gold run exits 0 — which
the grader then requires (``gold_exit_code``). XFAIL and SKIPPED never count as passing.
"""

from __future__ import annotations

import shlex
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aem_envs.swe import repos
from aem_envs.swe.test_spec import patch_files

TEST_CMD = "python3 -m pytest -rA -p no:cacheprovider --color=no"
RUN_TIMEOUT_S = 600.0


STATUSES = ("PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL", "XPASS")


@dataclass
class Run:
    status: dict[str, str]
    exit_code: int
    seconds: float
    output: str = field(repr=False, default="")

    @property
    def ambiguous(self) -> set[str]:
        """Ids that name more than one summary line as the grader reads them: swebench's parser cuts an id
        at its first space, so ``t[a b]`` and ``t[a c]`` both read ``t[a``, and a cut id matches every
        line it prefixes (``integrity.times_reported``). Such a test cannot be reported exactly once."""
        seen = [ln.split()[1] for ln in self.output.splitlines()
                if ln.startswith(STATUSES) and len(ln.split()) > 1 and ln.split()[0] in STATUSES]
        out = set()
        for tid in set(seen):
            cut = tid.count("[") > tid.count("]")
            if sum(1 for t in seen if t == tid or cut and t.startswith(tid)) > 1:
                out.add(tid)
        return out


@dataclass
class Derived:
    f2p: list[str]
    p2p: list[str]
    deselect: list[str]
    flaky: list[str]


def test_modules(test_patch: str) -> list[str]:
    """The test modules a test patch touches (helpers and conftest files run only through them)."""
    modified, created = patch_files(test_patch)
    names = dict.fromkeys(p for p in modified + created if p.endswith(".py"))
    return sorted(p for p in names if Path(p).name.startswith("test_") or p.endswith("_test.py"))


def test_command(modules: Sequence[str], deselect: Sequence[str] = ()) -> str:
    extra = "".join(f" --deselect {shlex.quote(t)}" for t in deselect)
    return f"{TEST_CMD} {' '.join(modules)}{extra}"


def tree_with(repo: Path, dest: Path, *patches: str) -> Path:
    """A copy of ``repo`` (with ``.git``) at ``dest`` with ``patches`` applied (``git apply``)."""
    shutil.copytree(repo, dest, symlinks=True)
    for patch in patches:
        repos.git("apply", "--whitespace=nowarn", "-", cwd=dest, input=patch.encode())
    return dest


def run_tests(tree: Path, site: Path, command: str, instance_id: str, runtime: str = "bwrap") -> Run:
    from swebench.harness.log_parsers import PARSER_REGISTRY

    from aem_envs.swe.real.sources import SITE_MOUNT
    from aem_envs.swe.sandbox import Limits, SandboxSpec, create_sandbox

    spec = SandboxSpec(instance_id, source_dir=tree, ro_binds=((str(site), SITE_MOUNT),),
                       limits=Limits(memory_mb=2048, timeout_s=RUN_TIMEOUT_S))
    t0 = time.monotonic()
    with create_sandbox(runtime, spec) as sb:
        r = sb.exec(command, timeout=RUN_TIMEOUT_S)
    if r.timed_out:
        raise RuntimeError(f"{instance_id}: tests timed out after {RUN_TIMEOUT_S:.0f} s")
    return Run(PARSER_REGISTRY["parse_log_pytest"](r.output, None), r.exit_code, time.monotonic() - t0,
               r.output)


def derive(base: Sequence[Run], gold: Sequence[Run]) -> Derived:
    """FAIL_TO_PASS, PASS_TO_PASS, the ids to deselect and the flaky ids (see the module docstring)."""
    ids = sorted({t for r in (*base, *gold) for t in r.status})
    flaky = [t for t in ids
             if len({r.status.get(t) for r in base}) > 1 or len({r.status.get(t) for r in gold}) > 1]
    ambiguous = set().union(*(r.ambiguous for r in (*base, *gold)))
    passed = {t for t in ids if all(r.status.get(t) == "PASSED" for r in gold)} - set(flaky) - ambiguous
    f2p = sorted(t for t in passed if all(r.status.get(t) != "PASSED" for r in base))
    p2p = sorted(t for t in passed if all(r.status.get(t) == "PASSED" for r in base))
    # Deselect what can fail with the gold patch, where the id is stable (an id made from the clock, say,
    # names a different test in every run and cannot be deselected; such a test is in neither list).
    stable = {t for t in ids if all(t in r.status for r in gold)}
    bad = {t for t in stable if any(r.status[t] != "PASSED" for r in gold)
           and any(r.status[t] in ("FAILED", "ERROR") for r in gold)}
    return Derived(f2p, p2p, sorted(bad), flaky)


def check_final(base: Run, gold: Sequence[Run], f2p: Sequence[str], p2p: Sequence[str]) -> list[str]:
    """Problems with the final test command: every F2P fails at the base, every P2P passes there; with the
    gold patch every one passes in every run, and every run exits 0. (Tests outside F2P/P2P may differ
    between runs, e.g. ids made from random parameters: they decide nothing.)"""
    problems = []
    if bad := [t for t in f2p if base.status.get(t) == "PASSED"]:
        problems.append(f"FAIL_TO_PASS tests pass at the base: {bad[:5]}")
    if bad := [t for t in p2p if base.status.get(t) != "PASSED"]:
        problems.append(f"PASS_TO_PASS tests do not pass at the base: {bad[:5]}")
    for i, g in enumerate(gold):
        if bad := [t for t in (*f2p, *p2p) if g.status.get(t) != "PASSED"]:
            problems.append(f"gold run {i + 1}: tests do not pass: {bad[:5]}")
        if g.exit_code != 0:
            problems.append(f"gold run {i + 1} exits {g.exit_code}:\n{g.output[-1500:]}")
    return problems


def patch_stats(patch: str) -> Mapping[str, int]:
    """Files and lines (added + removed) a unified diff changes: the difficulty table's size columns."""
    files = len(set(sum(patch_files(patch), [])))
    lines = sum(1 for ln in patch.splitlines()
                if ln[:1] in "+-" and not ln.startswith(("+++ ", "--- ")))
    return {"files": files, "lines": lines}
