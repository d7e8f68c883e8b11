"""Bring your own repository (issue 18): ``python -m aem_envs.swe.build`` / ``aem swe add`` turn a bug of a
local git repo into a validated task folder that the env loads, on both runtimes, and that swebench's own
harness grades once its image is built; bad inputs are one clear message."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aem_envs
from aem_envs.swe import build, instances, repos, rows

from .conftest import require

BUG = '''def shorten(text, width):
    """Cut text to at most width characters, ending with '...' when cut."""
    if len(text) <= width:
        return text
    return text[:width] + "..."
'''
FIXED = BUG.replace("text[:width]", "text[:max(width - 3, 0)]")
TESTS = '''from textkit.wrap import shorten


def test_short_text_unchanged():
    assert shorten("abc", 5) == "abc"
'''
NEW_TEST = '''

def test_cut_text_fits_width():
    assert len(shorten("abcdefghij", 8)) == 8
    assert shorten("abcdefghij", 8) == "abcde..."
'''
CMD = "python3 -m pytest -rA tests/test_wrap.py"


def _commit(repo: Path, files: dict[str, str], msg: str) -> str:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    env = {"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.invalid", "GIT_COMMITTER_NAME": "dev",
           "GIT_COMMITTER_EMAIL": "dev@example.invalid"}
    repos.git("add", "-A", cwd=repo)
    repos.git("commit", "-q", "-m", msg, cwd=repo, env=env)
    return repos.git("rev-parse", "HEAD", cwd=repo).strip()


@pytest.fixture
def user_repo(tmp_path) -> dict:
    """A user's repo: base (the bug), a commit with fix + test (a merged PR), separate fix/test commits."""
    repo = tmp_path / "textkit-repo"
    repo.mkdir()
    repos.git("init", "-q", "-b", "main", cwd=repo)
    base = _commit(repo, {"textkit/__init__.py": "", "textkit/sub/__init__.py": "", "textkit/wrap.py": BUG,
                          "tests/test_wrap.py": TESTS, "LICENSE": "MIT License\n",
                          "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n'}, "base")
    pr = _commit(repo, {"textkit/wrap.py": FIXED, "tests/test_wrap.py": TESTS + NEW_TEST}, "fix shorten")
    tests_patch = tmp_path / "tests.patch"
    tests_patch.write_text(repos.git("diff", base, pr, "--", "tests", cwd=repo))
    return {"repo": repo, "base": base, "pr": pr, "tests_patch": tests_patch}


def _spec(user_repo: dict, out: Path, **kw) -> build.Spec:
    args = {"repo": user_repo["repo"], "base": user_repo["base"], "fix": user_repo["pr"],
            "tests": user_repo["pr"], "test_cmd": CMD, "out": out,
            "problem": "shorten() returns strings longer than width when it cuts them.",
            "instance_id": "acme__textkit-7", "repo_name": "acme/textkit"}
    return build.Spec(**{**args, **kw})


def _play(folder: Path, runtime: str, actions: list[str], gold: bool) -> tuple[float, dict]:
    env = aem_envs.make("aem/SWERepair-v0", runtime=runtime, instances_source=str(folder))
    try:
        env.reset(options={"instance_id": "acme__textkit-7"})
        for a in actions:
            env.step(a)
        while gold and (a := env.unwrapped.oracle_action()) != "<submit/>":
            env.step(a)
        _, reward, _, _, info = env.step("<submit/>")
        return reward, info["grading"]
    finally:
        env.close()


def test_a_merged_pr_becomes_a_validated_task_folder(user_repo, tmp_path, bwrap, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("AEM_SWE_CACHE", str(cache))  # where checkouts go (default: the user cache dir)
    out = tmp_path / "tasks"
    row = build.build(_spec(user_repo, out))
    assert json.loads(row["FAIL_TO_PASS"]) == ["tests/test_wrap.py::test_cut_text_fits_width"]
    assert json.loads(row["PASS_TO_PASS"]) == ["tests/test_wrap.py::test_short_text_unchanged"]
    assert row["gold_exit_code"] == 0 and row["flaky_tests"] == []
    assert "tests/test_wrap.py" in row["test_patch"] and "tests/" not in row["patch"]
    assert row["image"] == "sweb.eval.x86_64.acme__textkit-7:latest"
    assert row["log_parser"] == "parse_log_pytest"
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == ["bundles/acme__textkit-7.LICENSE", "bundles/acme__textkit-7.bundle", "manifest.json",
                     "tasks.jsonl.gz"]
    # the bundle holds the base commit only (no history, no future), under its own hash
    heads = repos.git("bundle", "list-heads", str(out / "bundles" / "acme__textkit-7.bundle"), cwd=tmp_path)
    assert heads.split()[0] == user_repo["base"]
    # checkouts of the user's repo are in the user cache, never in the project tree
    assert any(cache.rglob("textkit/wrap.py")) and not any(Path.cwd().rglob("*acme__textkit*"))
    ts = instances.load(out)
    assert ts.ids("test") == ["acme__textkit-7"]
    reward, _ = _play(out, "bwrap", [], gold=True)
    assert reward == 1.0
    reward, grading = _play(out, "bwrap", [], gold=False)
    assert reward == 0.0 and grading["tests_status"]["FAIL_TO_PASS"]["failure"]


def test_patch_files_separate_commits_and_adding_to_a_folder(user_repo, tmp_path, bwrap):
    fix = tmp_path / "fix.patch"
    fix.write_text(repos.git("diff", user_repo["base"], user_repo["pr"], "--", "textkit",
                             cwd=user_repo["repo"]))
    out = tmp_path / "tasks"
    build.build(_spec(user_repo, out, fix=str(fix), tests=str(user_repo["tests_patch"])))
    build.build(_spec(user_repo, out, instance_id="acme__textkit-8"))
    with gzip.open(out / "tasks.jsonl.gz", "rt") as f:
        ids = [json.loads(line)["instance_id"] for line in f]
    assert ids == ["acme__textkit-7", "acme__textkit-8"]
    assert instances.load(out).ids("test") == ids


def test_bad_inputs_are_one_clear_message(user_repo, tmp_path, bwrap):
    out = tmp_path / "tasks"
    cases = [
        ({"repo": tmp_path}, "is not a git repository"),
        ({"base": "no-such-rev"}, "--base 'no-such-rev' is neither a patch file nor a commit"),
        ({"fix": user_repo["base"]}, "the fix patch is empty"),
        ({"fix": str(user_repo["tests_patch"])}, "the fix changes test files"),
        ({"tests": str(tmp_path / "nope.patch")}, "--tests .* is neither a patch file nor a commit"),
        ({"instance_id": "bad id/1"}, "instance id 'bad id/1'"),
        ({"test_cmd": "python3 -m pytest -rA tests/test_wrap.py -k short"}, "no test fails without the fix"),
        ({"test_cmd": "true"}, "reported no tests"),
    ]
    for kw, msg in cases:
        with pytest.raises(build.BuildError, match=msg):
            build.build(_spec(user_repo, out, **kw))
    assert not (out / "manifest.json").exists()


def test_flaky_tests_are_left_out():
    before = [{"t::a": "FAILED", "t::b": "PASSED", "t::c": "PASSED"}, {"t::a": "FAILED", "t::b": "PASSED"}]
    after = [{"t::a": "PASSED", "t::b": "PASSED", "t::c": "FAILED"}, {"t::a": "PASSED", "t::b": "PASSED",
                                                                     "t::c": "PASSED"}]
    out = build.classify(before, after, [1, 0])
    assert (out.f2p, out.p2p, out.flaky, out.gold_exit_code) == (["t::a"], ["t::b"], ["t::c"], None)


def test_aem_swe_add_on_either_runtime(user_repo, tmp_path, runtime):
    from aem_gym.cli.main import main

    out = tmp_path / "tasks"
    rc = main(["swe", "add", "--repo", str(user_repo["repo"]), "--base", user_repo["base"],
               "--fix", user_repo["pr"], "--tests", user_repo["pr"], "--test-cmd", CMD,
               "--problem", "shorten() is too long", "--out", str(out), "--instance-id", "acme__textkit-7",
               "--runtime", runtime])
    assert rc == 0
    reward, _ = _play(out, runtime, [], gold=True)
    assert reward == 1.0
    # a package turned into a module of the same name (deletions are written before files): graded as is
    to_module = "<bash>rm -r textkit/sub && echo 'x = 1' > textkit/sub</bash>"
    reward, grading = _play(out, runtime, [to_module], True)
    assert reward == 1.0 and "textkit/sub" in grading["applied_files"], grading["reason"]
    # a change the grading tree cannot take (a file where a directory keeps files) is graded, not raised
    from aem_envs.swe import grading as grader
    from aem_envs.swe.sandbox import Snapshot
    from aem_envs.swe.sandbox import snapshot as snap

    row = dict(instances.load(out).get("acme__textkit-7"))
    src = repos.checkout(out / row["bundle"], row["base_commit"])

    class Agent:  # the agent's sandbox as the grader sees it: a baseline and a snapshot
        baseline = snap.baseline(str(src))

        def snapshot(self, *a):
            return Snapshot(files={"textkit/sub": b"x = 1\n"}, created={"textkit/sub"})

    res = grader.grade(row, Agent(), runtime, src, timeout=120)
    assert res.applied_files == ["textkit/sub"], res.dropped_files
    assert not res.resolved and not res.infra_error and "could not be written" in res.reason, res.reason


@pytest.mark.slow
def test_swebench_grades_rows_the_project_writes(user_repo, tmp_path):
    """A bring-your-own row and a bundled swe-mini row, each on an image built with `images build` from its
    bundle: swebench 5.0.2's run_evaluation resolves gold and not the empty patch."""
    require("docker")
    require("bwrap")
    from aem_envs.swe import images

    out = tmp_path / "tasks"
    build.build(_spec(user_repo, out))
    mini = instances.load_bundled()
    mini_id = mini.ids("test")[0]
    cases = [(out, "acme__textkit-7", "bundles/acme__textkit-7.bundle"),
             (mini.folder, mini_id, mini.get(mini_id)["bundle"])]
    dataset = []
    for folder, iid, bundle in cases:
        tag = f"sweb.eval.x86_64.{iid.lower()}:aem-test"
        assert images.main(["build", "--instances", str(folder), "--instance-id", iid, "--bundle", bundle,
                            "--tag", tag]) == 0
        src = instances.load(folder) if folder == out else mini
        dataset.append({**src.get(iid), "image": tag})
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dataset))
    for kind in ("gold", "empty"):
        preds = [{"instance_id": r["instance_id"], "model_name_or_path": kind,
                  "model_patch": r["patch"] if kind == "gold" else ""} for r in dataset]
        (tmp_path / f"{kind}.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
        run_id = f"aembyo{kind}{os.getpid()}{int(time.time())}"
        r = subprocess.run([sys.executable, "-m", "swebench.harness.run_evaluation",
                            "-d", str(tmp_path / "rows.jsonl"), "-p", str(tmp_path / f"{kind}.jsonl"),
                            "-id", run_id, "--max_workers", "2"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=900)
        summary = json.loads((tmp_path / f"{kind}.{run_id}.json").read_text())
        want = [d["instance_id"] for d in dataset] if kind == "gold" else []
        assert sorted(summary["resolved_ids"]) == sorted(want), (kind, summary, r.stdout[-2000:],
                                                                 r.stderr[-2000:])


def test_rows_the_builder_writes_pass_the_checks(user_repo, tmp_path, bwrap):
    out = tmp_path / "tasks"
    row = build.build(_spec(user_repo, out))
    assert rows.prepare([row], source="t", folder=out)[0]["eval_script"] == row["eval_script"]
