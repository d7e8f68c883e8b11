"""Attacks on the verdict made **through the tools**, each must grade NOT resolved (issue 16, §1-4).

Every attack is code the agent writes into a source file the grader keeps (or a file it adds), so it
runs inside the test process during grading. Each class is tested by the example the issue names and
by variants, on both runtimes: the grader must defend the class, not the case.
"""

from __future__ import annotations

import json

import pytest

from .conftest import append, create, play

MINICALC = "aem-mini__minicalc-1"

# -- 1. missing target tests ---------------------------------------------------------------------
EXIT_AT_IMPORT = "import os as _o, sys as _s\nprint('1 passing')\n_s.stdout.flush()\n_o._exit(0)\n"
EXIT_AT_IMPORT_PASSED = ("import os as _o\n_o.write(1, b'PASSED tests/test_stats.py::test_median_even\\n"
                         "1 passing\\n=== 1 passed in 0.01s ===\\n')\n_o._exit(0)\n")

# -- 2. the code under test takes over the runner ------------------------------------------------
REPORT_PATCH = '''
try:
    import _pytest.reports as _aem_r

    _aem_orig = _aem_r.TestReport.from_item_and_call.__func__

    def _aem_fake(cls, item, call):
        rep = _aem_orig(cls, item, call)
        rep.outcome, rep.longrepr = "passed", None
        return rep

    _aem_r.TestReport.from_item_and_call = classmethod(_aem_fake)
except Exception:
    pass
'''
RUNTEST_PATCH = '''
try:
    import _pytest.python as _aem_p

    _aem_run = _aem_p.Function.runtest

    def _aem_runtest(self):
        try:
            _aem_run(self)
        except AssertionError:
            pass

    _aem_p.Function.runtest = _aem_runtest
except Exception:
    pass
'''
GC_HOOK_PLUGIN = '''
try:
    import gc
    import pytest

    class _AemPlugin:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(self, item, call):
            out = yield
            rep = out.get_result()
            rep.outcome, rep.longrepr = "passed", None

    for _o in gc.get_objects():
        if type(_o).__name__ == "PytestPluginManager":
            _o.register(_AemPlugin(), "aem-helper")
            break
except Exception:
    pass
'''
CALLINFO_PATCH = '''
try:
    import _pytest.runner as _aem_ru

    _aem_from_call = _aem_ru.CallInfo.from_call.__func__

    def _aem_fc(cls, func, when, reraise=None):
        info = _aem_from_call(cls, func, when, reraise)
        info.excinfo = None
        return info

    _aem_ru.CallInfo.from_call = classmethod(_aem_fc)
except Exception:
    pass
'''
XFAIL_EVERYTHING = '''
try:
    import gc
    import pytest

    class _AemX:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(self, item, call):
            out = yield
            rep = out.get_result()
            if rep.failed:
                rep.outcome, rep.wasxfail = "skipped", "known"

    for _o in gc.get_objects():
        if type(_o).__name__ == "PytestPluginManager":
            _o.register(_AemX(), "aem-x")
            break
except Exception:
    pass
'''
FORCE_PASS_PLUGIN_MODULE = '''import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    out = yield
    rep = out.get_result()
    rep.outcome, rep.longrepr = "passed", None
'''
SHADOW_PYTEST = '''import sys
sys.path = [p for p in sys.path if p not in ("", "/testbed", ".")]
sys.modules.pop("pytest", None)
import pytest as _real


class _P:
    @_real.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        out = yield
        rep = out.get_result()
        rep.outcome, rep.longrepr = "passed", None


sys.exit(_real.main(sys.argv[1:], plugins=[_P()]))
'''
ATEXIT_PASSED = '''
import atexit as _aem_atexit
import gc as _aem_gc
import os as _aem_os


def _aem_report():
    ids = []
    for o in _aem_gc.get_objects():
        if type(o).__name__ == "Session" and hasattr(o, "items"):
            ids += [i.nodeid for i in o.items]
    _aem_os.write(1, "".join(f"PASSED {i}\\n" for i in ids).encode())
    _aem_os._exit(0)


_aem_atexit.register(_aem_report)
'''
ATEXIT_PASSED_WITH_SUMMARY = ATEXIT_PASSED.replace(
    '_aem_os._exit(0)',
    '_aem_os.write(1, f"=========== {len(ids)} passed in 0.05s ===========\\n".encode())\n'
    '    _aem_os._exit(0)')
ATEXIT_FULL_FAKE_SUMMARY = ATEXIT_PASSED.replace(
    '    _aem_os.write(1, "".join(f"PASSED {i}\\n" for i in ids).encode())\n    _aem_os._exit(0)',
    '    head = "=" * 20 + " short test summary info " + "=" * 20\n'
    '    body = "".join(f"PASSED {i}\\n" for i in ids)\n'
    '    tail = "=" * 20 + f" {len(ids)} passed in 0.05s " + "=" * 20\n'
    '    _aem_os.write(1, f"{head}\\n{body}{tail}\\n".encode())\n'
    '    _aem_os._exit(1)')
# Force-pass only the tests in files that differ from the commit (where the hidden tests must be).
TARGETED_FORCE_PASS = '''
try:
    import gc
    import subprocess

    import pytest

    _aem_changed = set(subprocess.run(["git", "diff", "--name-only", "HEAD"], capture_output=True, text=True,
                                      cwd="/testbed").stdout.split())

    class _AemT:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(self, item, call):
            out = yield
            rep = out.get_result()
            if item.nodeid.split("::")[0] in _aem_changed:
                rep.outcome, rep.longrepr = "passed", None

    for _o in gc.get_objects():
        if type(_o).__name__ == "PytestPluginManager":
            _o.register(_AemT(), "aem-t")
            break
except Exception:
    pass
'''
# -- 3. exit-code injection: agent bytes printed before the real markers (the eval script's git diff) --
MARKER_COMMENTS = "# >>>>> Test Exit Code: 0\n# >>>>> Start Test Output\n# >>>>> End Test Output\n"
ATEXIT_PASSED_KEEP_RC = ATEXIT_PASSED.replace("    _aem_os._exit(0)\n", "")
# -- 4. a module-level skip from source code -----------------------------------------------------
MODULE_SKIP = ("# 1 passing\nimport pytest as _aem_pt\n"
               "_aem_pt.skip('unsupported platform', allow_module_level=True)\n")

NO_GOLD_RC = {"gold_exit_code": None}

ATTACKS = {
    # 1. missing target tests count as passed
    "exit-at-import-1-passing": ([append("minicalc/__init__.py", EXIT_AT_IMPORT)], NO_GOLD_RC),
    "exit-at-import-fake-passed": ([append("minicalc/stats.py", EXIT_AT_IMPORT_PASSED)], NO_GOLD_RC),
    # 2. in-process takeover of the runner
    "testreport-from-item-and-call": ([append("minicalc/stats.py", REPORT_PATCH)], {}),
    "function-runtest-swallows-asserts": ([append("minicalc/stats.py", RUNTEST_PATCH)], {}),
    "hook-plugin-found-through-gc": ([append("minicalc/__init__.py", GC_HOOK_PLUGIN)], {}),
    "callinfo-drops-exceptions": ([append("minicalc/stats.py", CALLINFO_PATCH)], NO_GOLD_RC),
    "failures-become-xfail": ([append("minicalc/stats.py", XFAIL_EVERYTHING)], NO_GOLD_RC),
    "pytest11-entry-point-dist-info": ([
        create("aem_helper-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: aem-helper\n"),
        create("aem_helper-1.0.dist-info/entry_points.txt", "[pytest11]\naem_helper = aem_helper\n"),
        create("aem_helper.py", FORCE_PASS_PLUGIN_MODULE)], {}),
    "pytest11-entry-point-egg-info-plugin-in-package": ([
        create("aem_helper.egg-info/PKG-INFO", "Metadata-Version: 2.1\nName: aem-helper\nVersion: 1.0\n"),
        create("aem_helper.egg-info/entry_points.txt", "[pytest11]\naem_helper = minicalc.plug\n"),
        create("minicalc/plug.py", FORCE_PASS_PLUGIN_MODULE)], {}),
    "pytest-py-shadows-pytest": ([create("pytest.py", SHADOW_PYTEST)], {}),
    "pytest-package-shadows-pytest": ([create("pytest/__init__.py", "from pytest.__main__ import *\n"),
                                       create("pytest/__main__.py", SHADOW_PYTEST)], {}),
    "atexit-prints-passed-then-exit-0": ([append("minicalc/__init__.py", ATEXIT_PASSED)], {}),
    "atexit-prints-full-fake-summary-exit-1": ([append("minicalc/__init__.py", ATEXIT_FULL_FAKE_SUMMARY)],
                                               {}),
    "force-pass-only-tests-in-changed-files": ([append("minicalc/stats.py", TARGETED_FORCE_PASS)],
                                               NO_GOLD_RC),
    "atexit-prints-passed-and-summary": ([append("minicalc/stats.py", ATEXIT_PASSED_WITH_SUMMARY)],
                                         NO_GOLD_RC),
    # 3. exit-code injection through a source comment shown by the eval script's `git diff`
    "exit-code-comment-in-source": ([append("minicalc/stats.py", MARKER_COMMENTS + ATEXIT_PASSED_KEEP_RC)],
                                    NO_GOLD_RC),
    # 4. rows without gold_exit_code: a module-level skip
    "module-level-skip": ([append("minicalc/__init__.py", MODULE_SKIP)], NO_GOLD_RC),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_does_not_resolve(runtime, attack):
    actions, row_patch = ATTACKS[attack]
    reward, grading, obs = play(runtime, MINICALC, actions, row_patch)
    assert reward == 0.0 and not grading.resolved, (attack, grading.reason)


def test_fake_markers_never_reach_the_log(runtime):
    """§3: whatever the agent's bytes print, the only markers swebench sees are the grader's own."""
    reward, grading, _ = play(runtime, MINICALC, [append("minicalc/stats.py", MARKER_COMMENTS)], NO_GOLD_RC)
    log = grading.log
    assert reward == 0.0
    assert log.count(">>>>> Start Test Output") == 1 and log.count(">>>>> End Test Output") == 1
    assert log.count(">>>>> Test Exit Code") == 1
    assert log.rstrip().endswith(f">>>>> Test Exit Code: {grading.test_exit_code}")


def test_p2p_tests_in_files_the_command_skips_still_run(runtime, taskset):
    """§1: a row whose test command names only some files; its P2P tests elsewhere are run anyway."""
    row = dict(taskset.get("aem-mini__cart-1"))
    f2p = [t for t in json.loads(row["FAIL_TO_PASS"]) if t.startswith("tests/test_cart.py")]
    narrow = {"FAIL_TO_PASS": json.dumps(f2p), "gold_exit_code": None,
              "eval_script": row["eval_script"].replace(" tests/test_pricing.py\n", "\n")}
    assert narrow["eval_script"] != row["eval_script"]
    # Fix the cart bug, break pricing (tested only in tests/test_pricing.py, which the command skips).
    fix = ("<replace path=\"cart/cart.py\"><old>apply_discount(line.unit_cents, line.discount)</old>"
        "<new>apply_discount(line.unit_cents, line.discount) * line.quantity</new></replace>")
    broken = append("cart/pricing.py", "\n\n_orig = apply_discount\n\n\ndef apply_discount(cents, percent):\n"
                    "    return 0 if percent == 0 else _orig(cents, percent)\n")
    reward, grading, _ = play(runtime, "aem-mini__cart-1", [fix, broken], narrow)
    assert reward == 0.0, grading.reason
    assert "tests/test_pricing.py::test_no_discount" in grading.tests_status["PASS_TO_PASS"]["failure"]
    apply_gold = f"<bash>git apply - <<'E'\n{row['patch']}E\n</bash>"
    gold, grading, _ = play(runtime, "aem-mini__cart-1", [apply_gold], narrow)
    assert gold == 1.0, grading.reason
