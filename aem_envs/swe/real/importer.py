"""Turn upstream commits into a ``swe-real`` task folder (a maintainer's tool; the build validates it).

    python -m aem_envs.swe.real.importer --git-dir <bare repo> --project click --number 2509 <commit>...

The commits' changes are taken onto the release's tag: applied as they are when they apply, else
cherry-picked with git's 3-way merge (a conflict is an error: such a fix needs a hand-made backport). Of
the result, files under the test folders become ``test.patch`` (the regression test), files of the
package become ``fix.patch`` (the gold patch), and everything else (changelog, docs, CI) is dropped and
listed. ``task.toml`` records the provenance; its problem statement is left for a person to write:
the symptom and the expected behaviour as the issue the fix closed reports them (restated, with the
issue's address), never the fix. The build refuses a task whose statement is still a TODO.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from aem_envs.tasks import tasks_root

TEST_DIR = re.compile(r"(^|/)(tests?|testing)/")
SKELETON = """project = "{project}"
task_type = "real-bug"
upstream_commits = [{commits}]
upstream_url = "https://github.com/{repo}/commit/{head}"
issue_url = ""
created_at = "{date}"
backport = "{how}"
# The problem statement describes the symptom (and the expected behaviour), never the fix.
# problem_statement_source: "restates issue #N of owner/repo (URL); written for this task, not quoted" or
# "describes the bug fixed by pull request #N of owner/repo (URL); written for this task".
problem_statement_source = "TODO"
problem_statement = '''
TODO
'''
"""


def git(git_dir: Path | None, *args: str, cwd: Path | None = None, input: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    pre = ["git", f"--git-dir={git_dir}"] if git_dir else ["git"]
    r = subprocess.run([*pre, *args], cwd=cwd, input=input, capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError(f"git {' '.join(args[:2])}: {r.stderr.strip()[-800:]}")
    return r


def classify(path: str, package_roots: list[str]) -> str:
    """"test", "fix" or "drop" for a file an upstream commit touches."""
    if TEST_DIR.search(path) or Path(path).name.startswith("test_") or Path(path).name == "conftest.py":
        return "test"
    if any(path.startswith(r.rstrip("/") + "/") for r in package_roots) and path.endswith(".py"):
        return "fix"
    return "drop"


def take_onto(git_dir: Path, tag: str, commits: list[str], work: Path, keep) -> str:
    """Apply the kept files of ``commits`` on a worktree of ``tag``: as they are, else with a 3-way merge
    (``git apply -3``); returns how. ``keep(path)`` says which files matter (changelogs and docs don't)."""
    git(git_dir, "worktree", "add", "--detach", "-f", str(work), tag)
    how = "applies to the release as is"
    for c in commits:
        files = [f for f in git(git_dir, "diff", "--name-only", f"{c}^", c).stdout.split() if keep(f)]
        if not files:
            continue
        diff = git(git_dir, "diff", "--binary", "--full-index", f"{c}^", c, "--", *files).stdout
        if git(None, "apply", "--index", "-", cwd=work, input=diff, check=False).returncode == 0:
            continue
        r = git(None, "apply", "--3way", "--index", "-", cwd=work, input=diff, check=False)
        if r.returncode:
            raise RuntimeError(f"{c[:10]} does not merge onto {tag}: {r.stderr.strip()[-600:]}; "
                               "backport it by hand")
        how = f"3-way merge onto {tag}"
    return how


def import_task(git_dir: Path, project: str, number: int, commits: list[str], src: Path) -> Path:
    projects = tomllib.loads((src / "projects.toml").read_text(encoding="utf-8"))["projects"]
    p = projects[project]
    owner, name = p["repo"].split("/")
    iid = f"{owner}__{name}-{number}"
    out = src / "tasks" / iid
    if out.exists():
        raise FileExistsError(f"{out} exists")
    full = [git(git_dir, "rev-parse", c).stdout.strip() for c in commits]
    root = p["import_root"].strip("./")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        try:
            git(git_dir, "worktree", "add", "--detach", "-f", str(work), p["tag"])
            pkg_roots = [f"{root}/{d}" if root else d for d in _packages(work / (root or "."))]
            git(git_dir, "worktree", "remove", "--force", str(work))
            dropped = sorted({f for c in full
                              for f in git(git_dir, "diff", "--name-only", f"{c}^", c).stdout.split()
                              if classify(f, pkg_roots) == "drop"})
            how = take_onto(git_dir, p["tag"], full, work, lambda f: classify(f, pkg_roots) != "drop")
            files = git(None, "diff", "--cached", "--name-only", p["tag"], cwd=work).stdout.split()
            kinds = {f: classify(f, pkg_roots) for f in files}
            patches = {k: git(None, "diff", "--cached", "--no-color", p["tag"], "--",
                              *[f for f, v in kinds.items() if v == k], cwd=work).stdout
                       for k in ("fix", "test") if any(v == k for v in kinds.values())}
        finally:
            git(git_dir, "worktree", "remove", "--force", str(work), check=False)
            git(git_dir, "worktree", "prune", check=False)
    if set(patches) != {"fix", "test"}:
        raise RuntimeError(f"{iid}: needs both a source change and a test change, got {sorted(patches)}")
    out.mkdir(parents=True)
    (out / "fix.patch").write_text(patches["fix"], encoding="utf-8")
    (out / "test.patch").write_text(patches["test"], encoding="utf-8")
    date = git(git_dir, "log", "-1", "--format=%cI", full[-1]).stdout.strip()
    (out / "task.toml").write_text(SKELETON.format(
        project=project, commits=", ".join(f'"{c}"' for c in full), repo=p["repo"], head=full[-1], date=date,
        how=how), encoding="utf-8")
    print(f"{iid}: {how}; fix {sum(v == 'fix' for v in kinds.values())} file(s), test "
          f"{sum(v == 'test' for v in kinds.values())}; dropped {dropped}", file=sys.stderr)
    return out


def _packages(root: Path) -> list[str]:
    return sorted(d.name for d in root.iterdir()
                  if (d / "__init__.py").is_file() and not TEST_DIR.search(d.name + "/"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--git-dir", type=Path, required=True, help="a clone (bare is fine) of the upstream repo")
    ap.add_argument("--project", required=True, help="a [projects.*] key of tasks/swe-real/src/projects.toml")
    ap.add_argument("--number", type=int, required=True, help="the PR (or issue) number: the id's <n>")
    ap.add_argument("--src", type=Path, default=None, help="task sources (default: tasks/swe-real/src)")
    ap.add_argument("commits", nargs="+")
    a = ap.parse_args(argv)
    print(import_task(a.git_dir, a.project, a.number, a.commits, a.src or tasks_root() / "swe-real" / "src"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
