"""Grading on submit, with SWE-bench's semantics and none of its holes (issue §6, swebench.md §6.2).

1. The agent's change is read back from its sandbox as file contents (``Sandbox.snapshot``), compared
   with the pristine base checkout, and **only source files** are kept: tests, test helpers, every
   ``conftest.py`` and the pytest/tox/project configuration are dropped (``test_spec.is_protected``), as
   are symlinks. Nothing the agent did to ``.git``, ``/tmp`` or the environment carries over.
2. A **fresh** sandbox from the base commit gets those files; the test patch must apply
   (``git apply --check``) or the instance is not resolved.
3. The row's ``eval_script`` runs up to its test command; the test command's exit code is the
   process's own. The log handed to swebench is assembled here: the test output with every ``>>>>>``
   marker the code under test printed neutralised, then the real end marker and exit code.
4. swebench's ``get_logs_eval`` / ``get_eval_tests_report`` / ``get_resolution_status`` grade it, with one
   stricter rule: a test counts only if reported PASSED (XFAIL and SKIPPED are failures). Rows whose gold
   run exits 0 (ours) also need exit code 0. Reward 1.0 if resolved, else 0.0.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aem_envs.swe import repos
from aem_envs.swe.instances import as_list
from aem_envs.swe.sandbox import Limits, Sandbox, SandboxSpec, Snapshot, create_sandbox
from aem_envs.swe.test_spec import (
    END_TEST_OUTPUT,
    START_TEST_OUTPUT,
    is_protected,
    patch_files,
    split_eval_script,
)

# Writes/deletes files under /testbed from a JSON map on stdin; refuses paths that leave the tree.
_APPLY = r"""
import base64, json, os, sys
root = os.path.realpath("/testbed")
for rel, data in json.load(sys.stdin).items():
    p = os.path.realpath(os.path.join(root, rel))
    if not p.startswith(root + os.sep):
        sys.exit("refusing path outside the work tree: " + rel)
    if data is None:
        if os.path.lexists(p):
            os.remove(p)
        continue
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(base64.b64decode(data))
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
    log: str = ""
    duration_s: float = 0.0

    def report(self) -> dict[str, Any]:
        """The per-test report for ``info`` (without the full log)."""
        d = asdict(self)
        d.pop("log")
        return d


def source_changes(base: Mapping[str, bytes], snap: Snapshot,
                   test_files: frozenset[str]) -> tuple[dict[str, bytes | None], list[str]]:
    """(source files to write (None: delete), dropped paths with the reason)."""
    changes: dict[str, bytes | None] = {}
    dropped = []
    for rel in sorted(set(base) | set(snap.files)):
        new = snap.files.get(rel)
        if new == base.get(rel):
            continue
        if is_protected(rel, test_files):
            dropped.append(f"{rel} (test file or test configuration: graded as at the base commit)")
            continue
        changes[rel] = new
    for rel in sorted(snap.symlinks):
        dropped.append(f"{rel} (symlink)")
        if rel in base and not is_protected(rel, test_files):
            changes[rel] = None
    dropped += [f"{rel} (not a regular file or too large)" for rel in snap.skipped]
    return changes, dropped


def write_changes(sb: Sandbox, changes: Mapping[str, bytes | None]) -> None:
    if not changes:
        return
    payload = json.dumps({k: (base64.b64encode(v).decode() if v is not None else None) for k, v in changes.items()})
    r = sb.exec(f"python3 -c {_shq(_APPLY)}", stdin=payload.encode(), timeout=60)
    if r.exit_code:
        raise RuntimeError(f"could not write the agent's files into the grading sandbox: {r.output[-500:]}")


def _shq(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def assemble_log(output: str, exit_code: int) -> str:
    """The log swebench parses: whatever the test command printed can no longer fake a marker."""
    head, sep, body = output.partition(START_TEST_OUTPUT)
    if not sep:  # the start marker never printed: the whole output is untrusted
        head, body = "", output
    body = body.replace(">>>>>", "> > > > >")
    return (f"{head}{sep}{body}\n+ : '{END_TEST_OUTPUT}'\n>>>>> Test Exit Code: {exit_code}\n")


def grade_log(row: Mapping[str, Any], log: str) -> tuple[bool, str, dict[str, Any], str]:
    """(resolved, status, tests_status, reason) for an assembled log, by swebench's functions."""
    from swebench.harness.constants import ResolvedStatus
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
        return False, ResolvedStatus.NO.value, {}, "no valid test log (tests did not run, or the log was rejected)"
    # Stricter than swebench: only PASSED counts (an XFAIL or SKIP of a target test is not a fix).
    strict = {k: (v if v == "PASSED" else "FAILED") for k, v in status_map.items()}
    report = get_eval_tests_report(strict, {"FAIL_TO_PASS": spec.FAIL_TO_PASS, "PASS_TO_PASS": spec.PASS_TO_PASS},
                                   eval_type=spec.eval_type)
    status = get_resolution_status(report)
    ok = status == ResolvedStatus.FULL.value
    return ok, status, report, "all FAIL_TO_PASS and PASS_TO_PASS tests PASSED" if ok else "some target test did not PASS"


def grade(row: Mapping[str, Any], agent: Sandbox, runtime: str, source_dir: Path | None,
          limits: Limits | None = None, timeout: float = 300.0) -> GradeResult:
    """Grade the agent's sandbox ``agent`` for ``row`` in a fresh sandbox of ``runtime`` (see module doc)."""
    t0 = time.monotonic()
    iid = row["instance_id"]
    modified, created = patch_files(row["test_patch"])
    test_files = frozenset(modified + created)
    base = repos.tree_files(source_dir) if source_dir is not None else {}
    changes, dropped = source_changes(base, agent.snapshot(), test_files)
    limits = limits or Limits(timeout_s=timeout)
    spec = SandboxSpec(iid, source_dir=source_dir, image=row.get("image") if source_dir is None else None, limits=limits)
    with create_sandbox(runtime, spec) as sb:
        write_changes(sb, changes)
        diff = sb.exec(f"git add -A && git -c core.fileMode=false diff --cached --no-color {row['base_commit']}",
                       timeout=60).output
        res = GradeResult(iid, False, 0.0, "", applied_files=sorted(changes), dropped_files=dropped, model_patch=diff)
        check = sb.exec("git apply --check -", stdin=row["test_patch"].encode(), timeout=60)
        if check.exit_code:
            res.reason = f"test patch does not apply: {check.output.strip()[-300:]}"
            res.duration_s = time.monotonic() - t0
            return res
        pre, test_cmd = split_eval_script(row["eval_script"])
        run = sb.exec(f"set -uxo pipefail\n{pre}\n{test_cmd} </dev/null", timeout=timeout)
    res.test_exit_code = run.exit_code
    res.log = assemble_log(run.output, run.exit_code)
    if run.timed_out:
        res.reason = f"tests timed out after {timeout:.0f} s"
    else:
        ok, res.status, res.tests_status, res.reason = grade_log(row, res.log)
        gold_rc = row.get("gold_exit_code")
        if ok and gold_rc is not None and run.exit_code != gold_rc:
            ok, res.reason = False, f"test command exited {run.exit_code}, the gold patch's run exits {gold_rc}"
        res.resolved = ok
    res.reward = 1.0 if res.resolved else 0.0
    res.duration_s = time.monotonic() - t0
    return res


def f2p_p2p(row: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    return as_list(row["FAIL_TO_PASS"]), as_list(row["PASS_TO_PASS"])
