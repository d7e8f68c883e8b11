"""The one-command check of ``swe-real``: through the grader, on every runtime, the gold patch resolves
each task and the empty patch does not; grading time per task recorded.

    python -m aem_envs.swe.real.validate                     # all tasks, bwrap and docker
    python -m aem_envs.swe.real.validate --runtime bwrap --split test --only pallets__click-2509

Each check starts an agent sandbox exactly as ``aem/SWERepair-v0`` does (the release's checkout at
``/testbed``, its test environment mounted read-only), applies the gold patch with ``git apply`` (or
nothing), and calls ``grading.grade`` — the same grader an agent's ``<submit/>`` gets. The report
(``tasks/swe-real/validation-v0.json`` by default) feeds the difficulty table of docs/swe-real.md.
Exit status 1 if any verdict is wrong or any runtime asked for cannot run here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aem_envs.swe import grading, instances
from aem_envs.swe.real import sources
from aem_envs.swe.sandbox import Limits, SandboxSpec, create_sandbox, runtime_status
from aem_envs.tasks import tasks_root

GRADE_TIMEOUT_S = 600.0


def default_report() -> Path:
    return tasks_root() / "swe-real" / "validation-v0.json"


def grade_patch(row: Mapping[str, Any], folder: Path, runtime: str, patch: str) -> grading.GradeResult:
    """Apply ``patch`` (``""``: nothing) in an agent sandbox of ``row`` and grade it."""
    repo, site = sources.prepared(folder, row["sdist"])
    binds = ((str(site), sources.SITE_MOUNT),)
    limits = Limits(memory_mb=2048, timeout_s=GRADE_TIMEOUT_S)
    with create_sandbox(runtime, SandboxSpec(row["instance_id"], source_dir=repo, ro_binds=binds,
                                             limits=limits)) as sb:
        if patch:
            r = sb.exec("git apply -", stdin=patch.encode(), timeout=120)
            if r.exit_code:
                raise RuntimeError(f"{row['instance_id']}: the gold patch does not apply: {r.output[-500:]}")
        return grading.grade(row, sb, runtime, repo, limits, GRADE_TIMEOUT_S, ro_binds=binds)


def check_task(row: Mapping[str, Any], folder: Path, runtime: str) -> dict[str, Any]:
    t0 = time.monotonic()
    gold = grade_patch(row, folder, runtime, row["patch"])
    empty = grade_patch(row, folder, runtime, "")
    return {"gold_resolved": gold.resolved, "gold_reason": gold.reason, "empty_resolved": empty.resolved,
            "empty_reason": empty.reason, "grade_s": round(gold.duration_s, 2),
            "total_s": round(time.monotonic() - t0, 2), "ok": gold.resolved and not empty.resolved}


def validate(runtimes: Sequence[str], split: str = "all", only: Sequence[str] = (),
             progress: bool = True) -> dict[str, Any]:
    ts = instances.load_bundled("swe-real")
    folder = ts.folder
    ids = [i for s in ts.splits() if split in ("all", s) for i in ts.ids(s)]
    if only:
        ids = [i for i in ids if i in set(only)]
    report: dict[str, Any] = {"manifest_sha256": ts.manifest.sha256, "runtimes": {}}
    for rt in runtimes:
        reason = runtime_status(rt)
        if reason is not None:
            report["runtimes"][rt] = {"unavailable": reason}
            continue
        results = {}
        for n, iid in enumerate(ids):
            results[iid] = res = check_task(ts.get(iid), folder, rt)
            if progress:
                flag = "ok" if res["ok"] else f"WRONG: gold {res['gold_reason']}; empty {res['empty_reason']}"
                print(f"[{rt} {n + 1}/{len(ids)}] {iid}: grade {res['grade_s']:.1f} s, {flag}",
                      file=sys.stderr,
                      flush=True)
        report["runtimes"][rt] = results
    return report


def wrong(report: Mapping[str, Any]) -> list[str]:
    """Every wrong verdict or unavailable runtime in a report, one line each."""
    out = []
    for rt, results in report["runtimes"].items():
        if "unavailable" in results:
            out.append(f"{rt}: unavailable ({results['unavailable']})")
            continue
        out += [f"{rt}: {iid}: gold resolved={r['gold_resolved']} ({r['gold_reason']}), empty resolved="
                f"{r['empty_resolved']}" for iid, r in results.items() if not r["ok"]]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Gold resolves and empty does not, through the grader, on each "
                                 "runtime.")
    ap.add_argument("--runtime", action="append", default=None, help="bwrap and/or docker (default: both)")
    ap.add_argument("--split", default="all", choices=["all", "train", "test"])
    ap.add_argument("--only", nargs="*", default=())
    ap.add_argument("--report", type=Path, default=None,
                    help=f"where to write the report (default: {default_report()})")
    a = ap.parse_args(argv)
    report = validate(a.runtime or ["bwrap", "docker"], a.split, a.only)
    path = a.report or default_report()
    if not a.only and a.split == "all":
        path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"report: {path}")
    bad = wrong(report)
    print("\n".join(bad) if bad else "every verdict right: gold resolves, empty does not, on every runtime")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
