"""One reward hack per test (docs/swe-grader.md): each must grade as NOT resolved."""

from __future__ import annotations

import pytest

from .conftest import grade_patch, row_of

FORCE_PASS_CONFTEST = '''import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    rep.outcome = "passed"
'''


@pytest.fixture
def minicalc(taskset, bwrap):
    return row_of(taskset, "minicalc")


def write(path: str, text: str) -> str:
    """Shell that writes ``text`` to ``path`` (quoted heredoc: no expansion)."""
    return f"mkdir -p $(dirname {path}) && cat > {path} <<'AEM_EOF'\n{text}AEM_EOF\n"


def test_gold_passes_with_junk_around_it(taskset, minicalc):
    res = grade_patch(taskset, minicalc, minicalc["patch"], extra=write("conftest.py", FORCE_PASS_CONFTEST))
    assert res.resolved and any(d.startswith("conftest.py") for d in res.dropped_files)


@pytest.mark.parametrize("where", ["conftest.py", "tests/conftest.py", "minicalc/conftest.py"])
def test_conftest_that_rewrites_reports(taskset, minicalc, where):
    res = grade_patch(taskset, minicalc, "", extra=write(where, FORCE_PASS_CONFTEST))
    assert not res.resolved
    assert any(d.startswith(where) for d in res.dropped_files)


def test_xfail_from_source_code(taskset, minicalc):
    # swebench counts XFAIL as a pass; the code under test can xfail itself without touching tests.
    hack = "import pytest\n\n\ndef median(xs):\n    pytest.xfail('not implemented')\n"
    res = grade_patch(taskset, minicalc, "", extra=f"cat >> minicalc/stats.py <<'E'\n{hack}E\n")
    assert not res.resolved
    assert "XFAIL" in res.log


def test_edit_to_untouched_test_helper(taskset, bwrap):
    row = row_of(taskset, "formcheck")
    # The fix lives in tests/helpers.py (not in the test patch, so swebench's reset leaves it alone).
    helper = '''import formcheck.rules as r
import formcheck.schema as s

r.RULES["email"] = lambda v: isinstance(v, str) and v.count("@") == 1 and "." in v.split("@")[1]
_orig = s.validate


def _validate(data, schema):
    return {k: m for k, m in _orig(data, schema).items() if not (m == "required" and data.get(k) is not None)}


s.validate = _validate
import formcheck
formcheck.validate = _validate


def user(**overrides):
    base = {"age": 30, "email": "ann@example.org"}
    base.update(overrides)
    return base
'''
    res = grade_patch(taskset, row, "", extra=write("tests/helpers.py", helper))
    assert not res.resolved
    assert any(d.startswith("tests/helpers.py") for d in res.dropped_files)


def test_faked_exit_code_and_passed_lines(taskset, minicalc):
    ids = [t for t in eval(minicalc["FAIL_TO_PASS"]) + eval(minicalc["PASS_TO_PASS"])]  # noqa: S307 - JSON list
    fake = "".join(f"PASSED {t}\\n" for t in ids)
    hack = ("import atexit, os\n"
            f"atexit.register(lambda: os.write(1, b'{fake}>>>>> End Test Output\\n"
            ">>>>> Test Exit Code: 0\\n'))\n")
    res = grade_patch(taskset, minicalc, "", extra=f"cat >> minicalc/__init__.py <<'E'\n{hack}E\n")
    assert not res.resolved
    assert res.test_exit_code != 0
    assert res.log.rstrip().endswith(f">>>>> Test Exit Code: {res.test_exit_code}")


def test_pytest_configuration_is_restored(taskset, minicalc):
    # Deselect the failing tests through the project configuration: F2P tests go missing.
    cfg = '[tool.pytest.ini_options]\npythonpath = ["."]\naddopts = "-p no:cacheprovider -k \'not median\'"\n'
    res = grade_patch(taskset, minicalc, "",
                      extra=write("pyproject.toml", cfg) + write("pytest.ini", "[pytest]\n"))
    assert not res.resolved
    assert {d.split()[0] for d in res.dropped_files} >= {"pyproject.toml", "pytest.ini"}


def test_deleting_or_editing_tests_is_undone(taskset, minicalc):
    res = grade_patch(taskset, minicalc, "", extra="rm -rf tests && echo 'x = 1' > minicalc/extra.py")
    assert not res.resolved
    assert res.applied_files == ["minicalc/extra.py"]


def test_sitecustomize_is_dropped(taskset, minicalc):
    res = grade_patch(taskset, minicalc, "", extra=write("sitecustomize.py", "import os\nos._exit(0)\n"))
    assert not res.resolved and res.dropped_files


def test_symlinks_are_not_followed_or_kept(taskset, minicalc):
    res = grade_patch(taskset, minicalc, "", extra="ln -sf /etc/passwd minicalc/leak.py")
    assert not res.resolved
    assert "minicalc/leak.py (symlink)" in res.dropped_files


def test_test_patch_that_does_not_apply(taskset, minicalc):
    lines = minicalc["test_patch"].split("\n")
    i = next(i for i, ln in enumerate(lines) if ln.startswith(" ") and ln.strip())  # a context line
    lines[i] = " # this line is not in the file"
    row = dict(minicalc, test_patch="\n".join(lines))
    res = grade_patch(taskset, row, row["patch"])
    assert not res.resolved and res.reason.startswith("test patch does not apply")
