"""Grading on submit, with SWE-bench's semantics and a protocol the agent cannot forge (docs/swe-grader.md).

1. The agent's sandbox is read back (``Sandbox.snapshot``: what changed, capped; an incomplete read is
   not resolved) and only source edits are kept (``changes.select``: tests, configuration, package
   metadata and new top-level modules are dropped with the reason).
2. A **fresh** sandbox starts from the base commit with those files; the test patch must apply
   (``git apply --check``) or the instance is not resolved.
3. One exec (``_SCRIPT``) runs the row's ``eval_script`` up to its test command with every byte of its
   output sent to a file (``git status``/``git diff`` print agent-controlled text; none of it reaches the
   log), writes the grader's canaries (``canary``), then runs the test command, extended to run every
   target test, whose output alone is the test log. Its exit code is the process's own.
4. The log handed to swebench is assembled here: the test output with every ``>>>>>`` run broken up,
   between the grader's own markers and exit code. For a pytest ``-rA`` run only pytest's short summary
   and final counts line are graded, after ``integrity`` has checked them (canaries, counts, exit code):
   a violation is "test runner tampered".
5. swebench's parser and ``get_eval_tests_report`` (with the ``EvalType`` enum) grade it, with stricter
   rules: only PASSED counts (XFAIL and SKIPPED are failures); each FAIL_TO_PASS/PASS_TO_PASS test must
   be reported exactly once; rows whose gold run exits 0 also need no failure besides the canaries.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from aem_envs.swe import canary, changes, integrity
from aem_envs.swe.instances import as_list
from aem_envs.swe.sandbox import Limits, OverlayError, Sandbox, SandboxError, SandboxSpec, create_sandbox
from aem_envs.swe.test_spec import END_TEST_OUTPUT, START_TEST_OUTPUT, patch_files, split_eval_script

SNAPSHOT_FILE_CAP = 8 << 20
SNAPSHOT_TOTAL_CAP = 64 << 20
LOG_CAP = 32 << 20
# pytest's exit codes for runs that never reached its summary (interrupted, internal error, usage error -
# a conftest that fails to import is one -, no tests collected). Still not resolved; only the reason differs.
PYTEST_DID_NOT_RUN = {2: "interrupted", 3: "internal error", 4: "usage or import error",
                      5: "no tests collected"}
APPLY_FAILED = 90  # the script's own exit code before any agent code runs: the test patch does not apply
# One exec: record the model patch, check the test patch applies (it arrives on stdin), print a fresh
# random mark, then the eval script's own steps with all their output in a file (agent-controlled text
# such as `git diff` never reaches the log), the canaries, and the test command. Everything before the
# first mark was printed before any code of the agent ran; only what follows it is the test log.
_SCRIPT = """cd /testbed
git add -A >/dev/null 2>&1
git -c core.fileMode=false diff --cached --no-color {base}
git apply --check - >/tmp/aem-apply.log 2>&1 || {{ cat /tmp/aem-apply.log; exit {code}; }}
printf '\\n%s\\n' '{mark}'
exec 3>&1 4>&2 >/tmp/aem-setup.log 2>&1
set -uxo pipefail
{pre}
set +x
{setup}exec 1>&3 2>&4 3>&- 4>&-
{env}{test_cmd} </dev/null
"""


@dataclass
class GradeResult:
    instance_id: str
    resolved: bool
    reward: float
    reason: str
    status: str = ""
    tests_status: dict[str, Any] = field(default_factory=dict)
    test_exit_code: int | None = None
    applied_files: list[str] = field(default_factory=list)
    dropped_files: list[str] = field(default_factory=list)
    model_patch: str = ""
    tampered: bool = False
    integrity: list[str] = field(default_factory=list)
    infra_error: bool = False
    log: str = ""
    duration_s: float = 0.0

    def report(self) -> dict[str, Any]:
        """The per-test report for ``info`` (without the full log)."""
        d = asdict(self)
        d.pop("log")
        return d


def neutralise(text: str) -> str:
    """Break up every run of five or more '>' so no text can pass for a swebench marker."""
    return re.sub(r">{5,}", lambda m: "> " * len(m.group()), text)


def assemble_log(test_output: str, exit_code: int) -> str:
    """The log swebench parses: only the test command's output, neutralised, between our markers."""
    return (f"+ : '{START_TEST_OUTPUT}'\n{neutralise(test_output)}\n+ : '{END_TEST_OUTPUT}'\n"
            f">>>>> Test Exit Code: {exit_code}\n")


def grade_log(row: Mapping[str, Any], log: str, exactly_once: Mapping[str, int] | None = None
              ) -> tuple[bool, str, dict[str, Any], str]:
    """(resolved, status, tests_status, reason) for an assembled log, by swebench's functions."""
    from swebench.harness.constants import EvalType, ResolvedStatus
    from swebench.harness.grading import get_eval_tests_report, get_logs_eval, get_resolution_status
    from swebench.harness.utils import make_test_spec

    spec = make_test_spec(dict(row))
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False, encoding="utf-8") as f:
        f.write(log)
    try:
        status_map, found = get_logs_eval(spec, f.name)
    finally:
        os.unlink(f.name)
    if not found:
        return False, ResolvedStatus.NO.value, {}, "no valid test log (tests did not run, or log rejected)"
    # Stricter than swebench: only PASSED counts, and (when known) only if reported exactly once.
    strict = {k: (v if v == "PASSED" else "FAILED") for k, v in status_map.items()}
    for tid, n in (exactly_once or {}).items():
        if n != 1:
            strict[tid] = "FAILED"
    gold = {"FAIL_TO_PASS": spec.FAIL_TO_PASS, "PASS_TO_PASS": spec.PASS_TO_PASS}
    report = get_eval_tests_report(strict, gold, eval_type=EvalType(spec.eval_type))
    status = get_resolution_status(report)
    ok = status == ResolvedStatus.FULL.value
    why = "all FAIL_TO_PASS and PASS_TO_PASS tests PASSED" if ok else "some target test did not PASS"
    return ok, status, report, why


def _verdict(row: Mapping[str, Any], res: GradeResult, output: str, run: canary.RunPlan) -> None:
    """Fill ``res`` from the test output and the process's exit code."""
    rc, gold_rc = res.test_exit_code, row.get("gold_exit_code")
    targets = as_list(row["FAIL_TO_PASS"]) + as_list(row["PASS_TO_PASS"])
    if not run.checked:  # a runner we cannot cross-check: swebench's rules, the exit code from the process
        ok, res.status, res.tests_status, res.reason = grade_log(row, res.log)
        if ok and gold_rc is not None and rc != gold_rc:
            ok, res.reason = False, f"test command exited {rc}, the gold patch's run exits {gold_rc}"
        res.resolved = ok
        return
    summary = integrity.read_summary(output)
    res.integrity = integrity.problems(summary, rc, run)
    graded = assemble_log(summary.text(), rc)
    counts = {t: integrity.times_reported(summary, t) for t in targets}
    ok, res.status, res.tests_status, res.reason = grade_log(row, graded, counts)
    if res.integrity and summary.problems and rc in PYTEST_DID_NOT_RUN:
        ok = False  # pytest stopped before reporting (the package no longer imports, ...): not tampering
        res.reason = (f"the tests did not run: pytest exited {rc} ({PYTEST_DID_NOT_RUN[rc]}) "
                      "without its summary")
    elif res.integrity:
        res.tampered, ok = True, False
        res.reason = f"test runner tampered: {res.integrity[0]}"
    elif ok and gold_rc == 0 and (bad := integrity.unexpected_failures(summary, run)):
        ok, res.reason = False, f"tests failed that the gold patch's run passes: {', '.join(bad[:5])}"
    res.resolved = ok


def grade(row: Mapping[str, Any], agent: Sandbox, runtime: str, source_dir: Path | None,
          limits: Limits | None = None, timeout: float = 300.0,
          ro_binds: tuple[tuple[str, str], ...] = ()) -> GradeResult:
    """Grade the agent's sandbox ``agent`` for ``row`` in a fresh sandbox of ``runtime`` (see module doc);
    ``ro_binds``: the task's read-only mounts (its test environment, swe-real), as in the agent's sandbox.
    A broken sandbox gives ``infra_error=True`` and not resolved, never an exception."""
    t0 = time.monotonic()
    res = GradeResult(row["instance_id"], False, 0.0, "")
    try:
        _grade(row, agent, runtime, source_dir, limits or Limits(timeout_s=timeout), timeout, res, ro_binds)
    except OverlayError as e:  # the agent's own changes do not fit the tree: graded, not a broken runtime
        res.resolved, res.reason = False, f"the changed files could not be written for grading: {e}"
    except (SandboxError, OSError) as e:
        res.resolved, res.infra_error, res.reason = False, True, f"grading sandbox failed: {e}"
    res.reward = 1.0 if res.resolved else 0.0
    res.duration_s = time.monotonic() - t0
    return res


def _grade(row, agent: Sandbox, runtime: str, source_dir: Path | None, limits: Limits, timeout: float,
           res: GradeResult, ro_binds: tuple[tuple[str, str], ...] = ()) -> None:
    modified, created = patch_files(row["test_patch"])
    snap = agent.snapshot(SNAPSHOT_FILE_CAP, SNAPSHOT_TOTAL_CAP)
    picked = changes.select(snap, agent.baseline, modified + created)
    res.applied_files, res.dropped_files = sorted(picked.overlay), picked.dropped
    if not snap.complete:
        res.reason = f"the work tree's changes exceed the snapshot caps: {snap.skipped[-1]}"
        return
    limits = replace(limits, max_output_bytes=LOG_CAP)
    image = row.get("image") if source_dir is None else None
    spec = SandboxSpec(res.instance_id, source_dir=source_dir, image=image, limits=limits,
                       overlay=picked.overlay, ro_binds=ro_binds)
    pre, test_cmd = split_eval_script(row["eval_script"])
    run = canary.plan(row, test_cmd)
    ours = row.get("bundle") or row.get("sdist")  # our rows (swe-mini, swe-real) need no plugin autoload
    env = "export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1\n" if ours else ""
    mark = f"AEM-TESTS-{secrets.token_hex(16)}"
    script = _SCRIPT.format(base=row["base_commit"], code=APPLY_FAILED, mark=mark, pre=pre, setup=run.setup,
                            env=env, test_cmd=run.test_cmd)
    with create_sandbox(runtime, spec) as sb:
        out = sb.exec(script, stdin=row["test_patch"].encode(), timeout=timeout)
    res.model_patch, found, tests = out.output.partition(f"\n{mark}\n")
    if not found:
        what = "test patch does not apply" if out.exit_code == APPLY_FAILED else "grading run failed"
        res.reason = f"{what}: {(res.model_patch.strip() or out.note())[-300:]}"
        return
    res.test_exit_code = out.exit_code
    res.log = assemble_log(tests, out.exit_code)
    if out.reason:
        res.reason = f"the test command ended abnormally: {out.note()}"
        return
    _verdict(row, res, tests, run)
