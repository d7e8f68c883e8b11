"""Generator of ``tasks/swe-mini/v0`` from the task sources in ``tasks/swe-mini/src/*.task``.

    python -m aem_envs.swe.build_mini          # needs the bwrap runtime (`make system`)

A ``.task`` file is a list of ``@@ <kind> [path]`` sections: ``meta`` (JSON: problem_statement, kind),
``file`` (a file at the base commit), ``fix`` (``<<<`` old ``===`` new ``>>>`` edits: the gold patch),
``fix-new`` (a file the gold patch creates), ``test-append`` / ``test`` (the test patch: text appended
to, or the full content of, a test file). For each task the builder makes a one-commit git repo with
fixed dates (same bytes every run), diffs the gold and test patches, runs the tests in the bwrap sandbox
with the test patch only and with test patch + gold, and derives FAIL_TO_PASS / PASS_TO_PASS the
SWE-bench way (parse_log_pytest; F2P = PASSED after and not before, P2P = PASSED in both; XFAIL and
SKIPPED never count). A task whose gold run does not pass cleanly (twice), or whose F2P is empty, is an
error. Writes the bundles, ``tasks.jsonl.gz`` (gzip mtime 0) and the hashed manifest.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from aem_envs.swe import repos
from aem_envs.swe.test_spec import make_eval_script
from aem_envs.tasks import tasks_root, write_manifest

VERSION = "v0"
ORG = "aem-mini"
DATE = "2026-01-01T00:00:00+00:00"
TEST_CMD = "python3 -m pytest -rA -p no:cacheprovider"
_SECTION = re.compile(r"^@@ (\S+)(?: (\S+))?$", re.M)
_EDIT = re.compile(r"^<<<\n(.*?)^===\n(.*?)^>>>$", re.M | re.S)


@dataclass
class TaskSource:
    slug: str
    meta: dict
    files: dict[str, str] = field(default_factory=dict)
    fixes: list[tuple[str, str, str]] = field(default_factory=list)
    fix_new: dict[str, str] = field(default_factory=dict)
    test_append: dict[str, str] = field(default_factory=dict)
    test_full: dict[str, str] = field(default_factory=dict)

    @property
    def instance_id(self) -> str:
        return f"{ORG}__{self.slug.replace('_', '-')}-1"


def parse_task(path: Path) -> TaskSource:
    text = path.read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    src = TaskSource(path.stem, {})
    for i in range(1, len(parts), 3):
        kind, target, body = parts[i], parts[i + 1], parts[i + 2]
        body = body[1:] if body.startswith("\n") else body
        if kind == "meta":
            src.meta = json.loads(body)
        elif kind == "file":
            src.files[target] = body
        elif kind == "fix":
            edits = _EDIT.findall(body)
            if not edits:
                raise ValueError(f"{path}: fix section for {target} has no <<< === >>> edit")
            src.fixes += [(target, old, new) for old, new in edits]
        elif kind == "fix-new":
            src.fix_new[target] = body
        elif kind == "test-append":
            src.test_append[target] = body
        elif kind == "test":
            src.test_full[target] = body
        else:
            raise ValueError(f"{path}: unknown section {kind!r}")
    if "problem_statement" not in src.meta:
        raise ValueError(f"{path}: meta lacks problem_statement")
    return src


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content, encoding="utf-8")


def _scaffold(src: TaskSource) -> dict[str, str]:
    pkg = src.slug
    return {
        "pyproject.toml": f'[project]\nname = "{pkg}"\nversion = "0.1.0"\n\n[tool.pytest.ini_options]\n'
                          'pythonpath = ["."]\naddopts = "-p no:cacheprovider"\n',
        "README.md": f"# {pkg}\n\n{src.meta.get('summary', 'A small Python library.')}\n",
        ".gitignore": "__pycache__/\n*.pyc\n",
    }


def _gold_files(src: TaskSource, base: dict[str, str]) -> dict[str, str]:
    out = dict(src.fix_new)
    for rel, old, new in src.fixes:
        cur = out.get(rel, base[rel])
        if cur.count(old) != 1:
            raise ValueError(f"{src.slug}: fix for {rel} matches {cur.count(old)} times")
        out[rel] = cur.replace(old, new)
    return out


def _test_files(src: TaskSource, base: dict[str, str]) -> dict[str, str]:
    out = dict(src.test_full)
    for rel, extra in src.test_append.items():
        out[rel] = base[rel] + extra
    return out


def _commit_env() -> dict:
    return {"GIT_AUTHOR_NAME": "aem-gym", "GIT_AUTHOR_EMAIL": "tasks@aem-gym.invalid",
            "GIT_AUTHOR_DATE": DATE,
            "GIT_COMMITTER_NAME": "aem-gym", "GIT_COMMITTER_EMAIL": "tasks@aem-gym.invalid",
            "GIT_COMMITTER_DATE": DATE}


def _diff(repo: Path, files: dict[str, str]) -> str:
    _write(repo, files)
    repos.git("add", "-A", cwd=repo)
    out = repos.git("diff", "--cached", "--no-color", "--no-ext-diff", "HEAD", cwd=repo)
    repos.git("reset", "-q", "--hard", "HEAD", cwd=repo)
    repos.git("clean", "-qfdx", cwd=repo)
    return out


def _run_tests(tree: Path, test_files: list[str], instance_id: str) -> tuple[dict[str, str], int, str]:
    from swebench.harness.log_parsers import PARSER_REGISTRY

    from aem_envs.swe.sandbox import SandboxSpec, create_sandbox

    with create_sandbox("bwrap", SandboxSpec(instance_id, source_dir=tree)) as sb:
        r = sb.exec(f"{TEST_CMD} {' '.join(test_files)}", timeout=120)
    return PARSER_REGISTRY["parse_log_pytest"](r.output, None), r.exit_code, r.output


def build_task(src: TaskSource, out_dir: Path, work: Path) -> dict:
    base = {**_scaffold(src), **src.files}
    repo = work / src.slug
    repo.mkdir()
    _write(repo, base)
    repos.git("init", "-q", "-b", "main", cwd=repo)
    repos.git("add", "-A", cwd=repo)
    repos.git("commit", "-q", "-m", f"{src.slug}: initial import", cwd=repo, env=_commit_env())
    base_commit = repos.git("rev-parse", "HEAD", cwd=repo).strip()
    gold, tests = _gold_files(src, base), _test_files(src, base)
    patch, test_patch = _diff(repo, gold), _diff(repo, tests)
    bundle = out_dir / "bundles" / f"{src.slug}.bundle"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    repos.git("-c", "pack.threads=1", "bundle", "create", "-q", str(bundle.resolve()), "main", cwd=repo)
    test_paths = sorted(p for p in tests if p.endswith(".py"))
    before_tree, after_tree = work / f"{src.slug}-before", work / f"{src.slug}-after"
    for t, extra in ((before_tree, tests), (after_tree, {**tests, **gold})):
        shutil.copytree(repo, t, ignore=shutil.ignore_patterns(".git"))
        _write(t, extra)
    before, _, _ = _run_tests(before_tree, test_paths, src.instance_id)
    after_runs = [_run_tests(after_tree, test_paths, src.instance_id) for _ in range(2)]
    for _status, rc, log in after_runs:
        if rc != 0:
            raise RuntimeError(f"{src.slug}: gold run exits {rc}:\n{log[-2000:]}")
    after = after_runs[0][0]
    if after != after_runs[1][0]:
        raise RuntimeError(f"{src.slug}: gold runs disagree (flaky tests)")
    f2p = sorted(t for t, s in after.items() if s == "PASSED" and before.get(t) != "PASSED")
    p2p = sorted(t for t, s in after.items() if s == "PASSED" and before.get(t) == "PASSED")
    if not f2p:
        raise RuntimeError(f"{src.slug}: empty FAIL_TO_PASS (the test patch does not expose the bug)")
    test_cmd = f"{TEST_CMD} {' '.join(test_paths)}"
    iid = src.instance_id
    return {
        "instance_id": iid, "repo": f"{ORG}/{src.slug.replace('_', '-')}", "base_commit": base_commit,
        "problem_statement": src.meta["problem_statement"], "hints_text": "",
        "created_at": "2026-01-01T00:00:00Z",
        "version": "0.1", "patch": patch, "test_patch": test_patch, "FAIL_TO_PASS": json.dumps(f2p),
        "PASS_TO_PASS": json.dumps(p2p), "environment_setup_commit": base_commit,
        "image": f"sweb.eval.x86_64.{iid.lower()}:latest",
        "eval_script": make_eval_script(base_commit, test_patch, test_cmd),
        "log_parser": "parse_log_pytest", "eval_type": "pass_and_fail",
        # ours: where the repo is, the bug kind, and that the gold run exits 0 (the grader then requires it)
        "bundle": f"bundles/{src.slug}.bundle", "task_type": src.meta.get("kind", ""), "gold_exit_code": 0,
    }


def split_of(index: int) -> str:
    return "test" if index % 4 == 3 else "train"


def build(src_dir: Path | None = None, out_dir: Path | None = None, progress: bool = True) -> list[dict]:
    from importlib import metadata

    src_dir = src_dir or tasks_root() / "swe-mini" / "src"
    out_dir = out_dir or tasks_root() / "swe-mini" / VERSION
    sources = [parse_task(p) for p in sorted(src_dir.glob("*.task"))]
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, src in enumerate(sources):
            if progress:
                print(f"[{i + 1}/{len(sources)}] {src.instance_id}", file=sys.stderr, flush=True)
            rows.append(build_task(src, out_dir, Path(tmp)))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        for r in rows:
            gz.write((json.dumps(r, sort_keys=True) + "\n").encode())
    (out_dir / "tasks.jsonl.gz").write_bytes(buf.getvalue())
    splits = {"train": [], "test": []}
    for i, r in enumerate(rows):
        splits[split_of(i)].append(r["instance_id"])
    write_manifest(out_dir, "swe-mini", VERSION, splits, backends={"swebench": metadata.version("swebench")},
                   extra={"kinds": sorted({r["task_type"] for r in rows})})
    return rows


if __name__ == "__main__":
    rows = build()
    print(f"built {len(rows)} tasks into {tasks_root() / 'swe-mini' / VERSION}")
