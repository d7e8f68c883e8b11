"""Generator of ``tasks/swe-real/v0`` from ``tasks/swe-real/src`` (docs/swe-real.md).

    python -m aem_envs.swe.real.build [--only ID ...]    # needs uv, network (PyPI) and the bwrap runtime

1. ``src/projects.toml`` → ``v0/envs/<key>.txt`` (the test requirements resolved with hashes by
   ``uv pip compile``, as of ``exclude_newer``) and ``v0/sources.json`` (the pins, with the base commit the
   set-up produced from each sdist), then the set-up itself (``sources.setup``).
2. Per task folder ``src/tasks/<id>/`` (``task.toml``, ``fix.patch``, ``test.patch``): both patches must
   apply to the release's source (``git apply``, no fuzz); the tests run at the base and with the gold
   patch (``runs``: twice each, flaky tests out, failing ones deselected, the final command re-checked);
   a task whose FAIL_TO_PASS is empty, or whose problem statement is still a TODO, is an error.
3. Rows in SWE-bench's v5 schema plus ours (``sdist``, ``task_type``, ``gold_exit_code``, provenance) go
   to ``tasks.jsonl.gz`` (gzip mtime 0); licences to ``licenses/``; attribution to ``ATTRIBUTION.md``;
   splits and hashes to the manifest. Timings and sizes go to ``src/build-report.json`` (outside ``v0``,
   so the hashed task data is the same on every rebuild).
4. Through the grader, on bwrap and docker: the gold patch resolves every task and the empty patch does
   not (``validate``; report in ``tasks/swe-real/validation-v0.json``). ``--no-validate`` skips it; the
   same check alone is ``python -m aem_envs.swe.real.validate``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from aem_envs.swe.real import runs, sources
from aem_envs.swe.test_spec import make_eval_script
from aem_envs.tasks import tasks_root, write_manifest

VERSION = "v0"
TASK_TYPES = ("real-bug", "injected-bug")


@dataclass
class TaskSource:
    instance_id: str
    meta: dict
    fix: str
    test: str


def src_dir() -> Path:
    return tasks_root() / "swe-real" / "src"


def load_sources(src: Path, only: set[str] | None = None, draft: bool = False) -> list[TaskSource]:
    out = []
    for d in sorted((src / "tasks").iterdir()):
        if only and d.name not in only:
            continue
        meta = tomllib.loads((d / "task.toml").read_text(encoding="utf-8"))
        if meta.get("task_type") not in TASK_TYPES:
            raise ValueError(f"{d.name}: task_type must be one of {TASK_TYPES}")
        todo = ("TODO" in meta.get("problem_statement", "TODO")
                or "TODO" in meta.get("problem_statement_source", ""))
        if todo and not draft:
            raise ValueError(f"{d.name}: write its problem statement (and its source) in task.toml first")
        out.append(TaskSource(d.name, meta, (d / "fix.patch").read_text(encoding="utf-8"),
                              (d / "test.patch").read_text(encoding="utf-8")))
    return out


def resolve_projects(src: Path, out: Path) -> dict[str, sources.Project]:
    """Pins of ``projects.toml`` as ``Project``s, their requirement files written to ``out/envs``."""
    cfg = tomllib.loads((src / "projects.toml").read_text(encoding="utf-8"))
    (out / "envs").mkdir(parents=True, exist_ok=True)
    projects = {}
    for name, p in cfg["projects"].items():
        key = f"{name}-{p['version']}"
        req = f"envs/{key}.txt"
        _compile(p["requirements"], name, cfg["exclude_newer"], out / req)
        projects[key] = sources.Project(
            key=key, name=name, version=p["version"], sdist=p["sdist"], url=p["url"], sha256=p["sha256"],
            repo=p["repo"], license=p["license"], license_file=p["license_file"],
            import_root=p["import_root"],
            requirements=req)
    return projects


def _compile(requirements: list[str], own: str, exclude_newer: str, dest: Path) -> None:
    """``uv pip compile`` with hashes for the sandbox's Python; the project itself is never in its env."""
    import os
    import shutil

    uv = os.environ.get("AEM_UV") or shutil.which("uv")
    if not uv:
        raise RuntimeError("building swe-real needs uv (set AEM_UV or put it on PATH)")
    with tempfile.NamedTemporaryFile("w", suffix=".in") as f:
        f.write("\n".join(requirements) + "\n")
        f.flush()
        r = subprocess.run([uv, "pip", "compile", "--no-config", "--quiet", "--generate-hashes",
                            "--no-header", "--python-version", sources.PYTHON,
                            "--python-platform", sources._platform_tag()[0],
                            "--only-binary", ":all:", "--exclude-newer", exclude_newer,
                            "--no-emit-package", own,
                            f.name, "-o", str(dest)], capture_output=True, text=True, timeout=300)
    if r.returncode:
        raise RuntimeError(f"resolving {own}'s test requirements failed: {r.stderr[-1500:]}")
    # uv writes the temp input's path into the "# via -r <file>" annotations: keep the file machine-free.
    kept = [ln for ln in dest.read_text(encoding="utf-8").splitlines(keepends=True) if f.name not in ln]
    dest.write_text("".join(kept))


def build_task(t: TaskSource, p: sources.Project, repo: Path, site: Path, work: Path) -> tuple[dict, dict]:
    """(row, report) for one task; raises with the reason when the task is not valid."""
    iid = t.instance_id
    modules = runs.test_modules(t.test)
    if not modules:
        raise RuntimeError(f"{iid}: the test patch touches no test module")
    base_tree = runs.tree_with(repo, work / f"{iid}-base", t.test)
    gold_tree = runs.tree_with(repo, work / f"{iid}-gold", t.test, t.fix)
    cmd = runs.test_command(modules)
    base = [runs.run_tests(base_tree, site, cmd, iid) for _ in range(2)]
    gold = [runs.run_tests(gold_tree, site, cmd, iid) for _ in range(2)]
    d = runs.derive(base, gold)
    if not d.f2p:
        raise RuntimeError(f"{iid}: empty FAIL_TO_PASS (the test patch does not expose the bug here)")
    if d.deselect:
        cmd = runs.test_command(modules, d.deselect)
        base = [runs.run_tests(base_tree, site, cmd, iid)]
        gold = [runs.run_tests(gold_tree, site, cmd, iid) for _ in range(2)]
    problems = runs.check_final(base[0], gold, d.f2p, d.p2p)
    if problems:
        raise RuntimeError(f"{iid}: " + "\n".join(problems))
    m = t.meta
    row = {
        "instance_id": iid, "repo": p.repo, "base_commit": p.base_commit,
        "problem_statement": m["problem_statement"].strip() + "\n",
        "hints_text": "", "created_at": m["created_at"], "version": p.version, "patch": t.fix,
        "test_patch": t.test,
        "FAIL_TO_PASS": json.dumps(d.f2p), "PASS_TO_PASS": json.dumps(d.p2p),
        "environment_setup_commit": p.base_commit,
        "image": f"sweb.eval.x86_64.{iid.lower()}:latest",
        "eval_script": make_eval_script(p.base_commit, t.test, cmd),
        "log_parser": "parse_log_pytest", "eval_type": "pass_and_fail", "gold_exit_code": 0,
        # ours: where the code comes from, the kind of bug, and the provenance of the task data
        "sdist": p.key, "task_type": m["task_type"], "license": p.license,
        "upstream_commits": list(m["upstream_commits"]), "upstream_url": m["upstream_url"],
        "issue_url": m.get("issue_url", ""), "problem_statement_source": m["problem_statement_source"],
    }
    report = {"project": p.key, "gold": runs.patch_stats(t.fix), "test_patch": runs.patch_stats(t.test),
              "f2p": len(d.f2p), "p2p": len(d.p2p), "deselected": len(d.deselect), "flaky": d.flaky,
              "gold_test_s": round(max(g.seconds for g in gold), 2), "backport": m.get("backport", "")}
    return row, report


def split_of(index_in_project: int) -> str:
    """Alternate within each project (ordered by id number), so both splits cover every project."""
    return "test" if index_in_project % 2 == 0 else "train"


def _id_number(iid: str) -> int:
    return int(iid.rsplit("-", 1)[1])


def write_rows(out: Path, rows: list[dict]) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        for r in rows:
            gz.write((json.dumps(r, sort_keys=True) + "\n").encode())
    (out / "tasks.jsonl.gz").write_bytes(buf.getvalue())


def write_licenses(out: Path, projects: dict[str, sources.Project], repos_: dict[str, Path]) -> None:
    (out / "licenses").mkdir(exist_ok=True)
    for key, p in projects.items():
        (out / "licenses" / f"{key}.txt").write_bytes((repos_[key] / p.license_file).read_bytes())


def write_attribution(out: Path, projects: dict[str, sources.Project], rows: list[dict]) -> None:
    lines = ["# swe-real v0: where the task data comes from", "",
             "Each task is a bug in a PyPI release (downloaded at set-up, never stored here) "
             "with the fix and",
             "regression test its project published later. The patches and test ids below are taken from the",
             "projects' public history under their licences (copies in `licenses/`); "
             "problem statements restate",
             "the linked issues (or describe the symptom where no issue exists).", "",
             "| project | release | licence | upstream |", "|---|---|---|---|"]
    lines += [f"| {p.name} | {p.version} | {p.license} (`licenses/{k}.txt`) | https://github.com/{p.repo} |"
              for k, p in sorted(projects.items())]
    lines += ["", "| task | upstream fix | issue | problem statement |", "|---|---|---|---|"]
    lines += [f"| {r['instance_id']} | {r['upstream_url']} | {r['issue_url'] or '—'} | "
              f"{r['problem_statement_source']} |" for r in rows]
    (out / "ATTRIBUTION.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def build(only: set[str] | None = None, trial: bool = False, progress: bool = True) -> list[dict]:
    """Build (or with ``trial``/``only``: just validate and report) the task set."""
    from importlib import metadata

    src, out = src_dir(), tasks_root() / "swe-real" / VERSION
    partial = trial or only is not None
    tasks = load_sources(src, only, draft=partial)
    projects = resolve_projects(src, out)
    (out / "sources.json").write_text(sources.dump_projects(projects), encoding="utf-8")
    repos_ = {}
    for key, p in projects.items():
        repo, commit = sources.ensure_repo(p)
        projects[key] = sources.Project(**{**p.__dict__, "base_commit": commit})
        repos_[key] = repo
    (out / "sources.json").write_text(sources.dump_projects(projects), encoding="utf-8")
    sites = {k: sources.ensure_site(p, out, repos_[k]) for k, p in projects.items()}
    by_name = {p.name: p for p in projects.values()}
    rows, report, failed = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, t in enumerate(tasks):
            if progress:
                print(f"[{i + 1}/{len(tasks)}] {t.instance_id}", file=sys.stderr, flush=True)
            p = by_name[t.meta["project"]]
            try:
                row, rep = build_task(t, p, repos_[p.key], sites[p.key], Path(tmp))
            except Exception as e:  # noqa: BLE001 - report every invalid task, then fail once
                failed[t.instance_id] = str(e)
                print(f"  INVALID: {str(e)[:2000]}", file=sys.stderr, flush=True)
                continue
            rows.append(row)
            report[t.instance_id] = rep
    if failed and not partial:
        raise SystemExit(f"{len(failed)} invalid task(s): {sorted(failed)}; fix or remove them")
    report = {**report, **{k: {"invalid": v[:3000]} for k, v in failed.items()}}
    _write_outputs(src, out, projects, repos_, rows, report, metadata.version("swebench"), partial=partial)
    return rows


def _write_outputs(src: Path, out: Path, projects: dict, repos_: dict, rows: list[dict], report: dict,
                   swebench: str, partial: bool) -> None:
    if partial:  # a trial build of some tasks: report only, the task data stays as it was
        (src / "build-report.partial.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n",
                                                       encoding="utf-8")
        return
    rows.sort(key=lambda r: (r["repo"], _id_number(r["instance_id"])))
    write_rows(out, rows)
    write_licenses(out, projects, repos_)
    write_attribution(out, projects, rows)
    splits: dict[str, list[str]] = {"train": [], "test": []}
    seen: dict[str, int] = {}
    for r in rows:
        n = seen[r["repo"]] = seen.get(r["repo"], -1) + 1
        splits[split_of(n)].append(r["instance_id"])
    write_manifest(out, "swe-real", VERSION, splits, backends={"swebench": swebench},
                   extra={"projects": sorted(projects), "task_types": sorted({r["task_type"] for r in rows})})
    (src / "build-report.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n",
                                           encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build tasks/swe-real/v0 (see the module docstring).")
    ap.add_argument("--only", nargs="*", default=None, help="trial-build these ids (writes a report only)")
    ap.add_argument("--trial", action="store_true", help="validate every task, write a report only")
    ap.add_argument("--no-validate", action="store_true", help="skip step 4 (gold/empty through the grader)")
    a = ap.parse_args(argv)
    rows = build(set(a.only) if a.only else None, trial=a.trial)
    print(f"built {len(rows)} tasks")
    if a.only or a.trial or a.no_validate:
        return 0
    from aem_envs.swe.real import validate

    return validate.main([])


if __name__ == "__main__":
    raise SystemExit(main())
