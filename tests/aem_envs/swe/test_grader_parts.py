"""The grader's parts on their own: the change filter, the canaries, the log cross-checks, the registry."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aem_envs.swe import canary, changes, integrity
from aem_envs.swe.sandbox import Snapshot, register_runtime, runtime_status
from aem_envs.swe.sandbox.base import _RUNTIMES

BASE = {"pkg/__init__.py", "pkg/core.py", "src/lib/__init__.py", "src/lib/a.py", "setup.py",
        "tests/test_core.py", "README.md"}
ROW = {"FAIL_TO_PASS": json.dumps(["tests/test_core.py::test_fix"]),
       "PASS_TO_PASS": json.dumps(["tests/test_core.py::test_old", "tests/other/test_more.py::test_x[a-b]"])}


def _select(files: dict[str, bytes], deleted=(), symlinks=None):
    snap = Snapshot(files=files, created={p for p in files if p not in BASE}, deleted=list(deleted),
                    symlinks=symlinks or {})
    return changes.select(snap, BASE, ["tests/test_core.py"])


@pytest.mark.parametrize("path", [
    "pytest.py", "_pytest/__init__.py", "json.py", "conftest.py", "pkg/conftest.py", "sitecustomize.py",
    "src/pytest.py", "src/newpkg/__init__.py", "x.pth", "pkg/evil.pth", "aem-1.0.dist-info/entry_points.txt",
    "pkg/aem.egg-info/entry_points.txt", "tests/test_core.py", "tests/helpers.py", "pyproject.toml",
    "NEWS.md"])
def test_what_may_not_be_graded(path):
    cs = _select({path: b"x = 1\n"})
    assert path not in cs.overlay and cs.dropped and cs.dropped[0].startswith(path)


@pytest.mark.parametrize("path", ["pkg/core.py", "pkg/new.py", "pkg/sub/deeper.py", "src/lib/b.py",
                                  "setup.py", "pkg/json.py", "pkg/data/table.csv"])
def test_what_is_graded(path):
    cs = _select({path: b"x = 1\n"})
    assert cs.overlay == {path: b"x = 1\n"} and not cs.dropped


def test_deletions_and_symlinks():
    cs = _select({}, deleted=["pkg/core.py", "tests/test_core.py"],
                 symlinks={"pkg/__init__.py": "/etc/passwd"})
    assert cs.overlay == {"pkg/core.py": None, "pkg/__init__.py": None}
    assert any(d.startswith("tests/test_core.py (deleted") for d in cs.dropped)


def test_canaries_are_fresh_hidden_and_of_both_kinds():
    cmd = "python3 -m pytest -rA -p no:cacheprovider tests/test_core.py"
    a, b = canary.plan(ROW, cmd), canary.plan(ROW, cmd)
    assert a.checked and set(a.must_pass).isdisjoint(b.must_pass) and set(a.must_fail).isdisjoint(b.must_fail)
    assert len(a.must_pass) == len(a.must_fail) == 4  # 2 in a new file, 1 in each target test file
    files = {t.split("::")[0] for t in a.must_pass}
    assert {"tests/test_core.py", "tests/other/test_more.py"} <= files
    new_file = (files - {"tests/test_core.py", "tests/other/test_more.py"}).pop()
    assert new_file.startswith("tests/test_") and "canary" not in new_file
    # the command now runs the P2P file it skipped, and the new canary file
    assert a.added_files == ["tests/other/test_more.py"]
    assert a.test_cmd.startswith(cmd) and a.test_cmd.endswith(f"tests/other/test_more.py {new_file}")
    assert "raise ValueError" in a.setup and "assert" in a.setup


@pytest.mark.parametrize("cmd, explicit", [("pytest -rA", False),
                                           ("python -m pytest -rA -k 'not slow'", False),
                                           ("pytest -rA -p no:cacheprovider tests/", True)])
def test_commands_that_already_run_every_target(cmd, explicit):
    plan = canary.plan(ROW, cmd)
    new_file = plan.must_pass[0].split("::")[0]  # the canary file comes first
    assert plan.checked and plan.added_files == []
    # a command naming its paths must name the canary file too; one that collects everything finds it
    assert plan.test_cmd == (f"{cmd} {new_file}" if explicit else cmd)


def test_non_pytest_runners_are_not_cross_checked():
    for cmd in ["./tests/runtests.py --verbosity 2 x", "bin/test -C sympy/x", "pytest -v tests/"]:
        plan = canary.plan(ROW, cmd)
        assert not plan.checked and plan.test_cmd == cmd and not plan.setup


def _log(lines, final, extra_head=""):
    head = "=========================== short test summary info ============================"
    return f"{extra_head}collected\n{head}\n" + "".join(f"{ln}\n" for ln in lines) + f"{final}\n"


def _plan():
    return canary.RunPlan("x", must_pass=["tests/t.py::test_ok_canary"],
                          must_fail=["tests/t.py::test_bad_canary"], checked=True)


GOOD = ["PASSED tests/t.py::test_ok_canary", "PASSED tests/t.py::test_fix", "SKIPPED [2] tests/t.py:3: why",
        "FAILED tests/t.py::test_bad_canary - assert 1 == 2"]
GOOD_FINAL = "=============== 1 failed, 2 passed, 2 skipped in 0.05s ==============="


def test_an_honest_summary_passes_the_checks():
    s = integrity.read_summary(_log(GOOD, GOOD_FINAL, extra_head="PASSED tests/t.py::test_fix\n"))
    assert integrity.problems(s, 1, _plan()) == []
    assert integrity.times_reported(s, "tests/t.py::test_fix") == 1  # the line before the summary is ignored
    assert integrity.unexpected_failures(s, _plan()) == []


@pytest.mark.parametrize("lines, final, rc, needle", [
    (GOOD, GOOD_FINAL, 0, "exited 0"),
    (GOOD, GOOD_FINAL.replace("2 passed", "3 passed"), 1, "counted 3 passed"),
    ([ln.replace("FAILED", "PASSED").split(" - ")[0] for ln in GOOD], GOOD_FINAL.replace("1 failed, 2", "3"),
     1, "should FAIL"),
    (GOOD[1:], GOOD_FINAL.replace("2 passed", "1 passed"), 1, "should PASS"),
    (GOOD + ["PASSED tests/t.py::test_fix"], GOOD_FINAL.replace("2 passed", "3 passed"), 1, "more than once"),
])
def test_forged_summaries_are_caught(lines, final, rc, needle):
    s = integrity.read_summary(_log(lines, final))
    found = integrity.problems(s, rc, _plan())
    assert any(needle in p for p in found), found


def test_only_pytests_closing_report_counts():
    # A project that runs pytest inside its tests prints summaries of its own (captured): ignored.
    inner = _log(["PASSED t.py::test_inner"], "=== 1 passed in 0.01s ===")
    s = integrity.read_summary(inner + _log(GOOD, GOOD_FINAL) + "Exception ignored in: <gen>\n")
    assert integrity.problems(s, 1, _plan()) == [] and s.final == GOOD_FINAL
    # A summary printed after pytest's own (atexit) is read instead, and its canaries give it away.
    fake = _log([ln.replace("FAILED", "PASSED").split(" - ")[0] for ln in GOOD], "=== 3 passed in 0.01s ===")
    assert any("should FAIL" in p for p in integrity.problems(integrity.read_summary(
        _log(GOOD, GOOD_FINAL) + fake), 0, _plan()))
    assert integrity.problems(integrity.read_summary("1 passing\n"), 0, _plan())
    assert integrity.problems(integrity.read_summary(_log(GOOD, GOOD_FINAL) + _log(GOOD, "")), 1, _plan())


def test_older_pytest_formats():
    lines = [ln.replace("SKIPPED", "SKIP") for ln in GOOD]
    s = integrity.read_summary(_log(lines, "==== 1 failed, 2 passed, 2 skipped in 0.05 seconds ===="))
    assert integrity.problems(s, 1, _plan()) == []


def test_runtimes_register_by_name_and_the_interface_imports_none():
    code = ("import sys, aem_envs.swe.sandbox as s; s.runtimes(); "
            "impl = ('sandbox.bwrap', 'sandbox.docker', 'sandbox.docker_io'); "
            "print(any(m.endswith(impl) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    register_runtime("aem-test-missing", "aem_envs.swe.no_such_module:Nothing")
    try:
        register_runtime("aem-test-missing", "aem_envs.swe.no_such_module:Nothing")  # the same again: fine
        with pytest.raises(ValueError, match="already registered"):
            register_runtime("aem-test-missing", "elsewhere:Other")
        assert "cannot load" in runtime_status("aem-test-missing")
    finally:  # other tests list the known runtimes
        _RUNTIMES.unregister("aem-test-missing")
    assert "unknown sandbox runtime" in runtime_status("no-such-runtime")
