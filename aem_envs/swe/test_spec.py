"""Which paths are tests, what a patch touches, and the SWE-bench-shaped eval script of our instances.

``is_protected`` is the grader's rule for what an agent's change may never touch (issue §6,
docs/swe-grader.md): every test file and test helper, every ``conftest.py``, and the
pytest/tox/project configuration. Those are graded exactly as they are at the base commit plus the
test patch, whatever the agent did to them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

START_TEST_OUTPUT = ">>>>> Start Test Output"
END_TEST_OUTPUT = ">>>>> End Test Output"
HEREDOC = "EOF_114329324912"
PROTECTED_NAMES = frozenset({
    "conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml", "tox.ini", "setup.cfg",
    "pyproject.toml", "noxfile.py", "sitecustomize.py", "usercustomize.py",
})
TEST_DIRS = frozenset({"tests", "test", "testing"})
TEST_FILE_GLOBS = ("test_*.py", "*_test.py", "*.pth")
_DIFF_HEADER = re.compile(r"^diff --git a/(.+?) b/(.+)$", re.M)


def is_protected(path: str, test_patch_files: frozenset[str] | set[str] = frozenset()) -> bool:
    """True if ``path`` (relative, '/'-separated) is a test, test helper or test configuration."""
    parts = path.split("/")
    name = parts[-1]
    return (path in test_patch_files or name in PROTECTED_NAMES or any(p in TEST_DIRS for p in parts[:-1])
            or any(fnmatch.fnmatch(name, g) for g in TEST_FILE_GLOBS))


def patch_files(diff: str) -> tuple[list[str], list[str]]:
    """(existing files a diff modifies or deletes, files it creates), in order of appearance."""
    modified, created = [], []
    blocks = _DIFF_HEADER.split(diff)
    # split() gives [pre, a1, b1, body1, a2, b2, body2, ...]
    for i in range(1, len(blocks) - 2, 3):
        a, b, body = blocks[i], blocks[i + 1], blocks[i + 2]
        head = body.split("\n@@", 1)[0]
        (created if "--- /dev/null" in head or "new file mode" in head else modified).append(b)
        if a != b and a not in modified:
            modified.append(a)
    return modified, created


def make_eval_script(base_commit: str, test_patch: str, test_cmd: str, setup: Sequence[str] = ()) -> str:
    """The row's ``eval_script`` in the §2.2/§7.4 shape, with the two fixes §6.2 asks for: files the test
    patch creates are removed first, and a failed apply is reported with ``>>>>> Patch Apply Failed``.
    ``setup``: shell lines run first (e.g. activating the test environment of a harness image)."""
    modified, created = patch_files(test_patch)
    lines = ["cd /testbed", *setup, "git config --global --add safe.directory /testbed", "git status",
             "git show --stat",
             f"git -c core.fileMode=false diff {base_commit}"]
    if modified:
        lines.append(f"git checkout {base_commit} -- {' '.join(modified)}")
    if created:
        lines.append(f"rm -f {' '.join(created)}")
    lines += [f"git apply -v - <<'{HEREDOC}' || echo '>>>>> Patch Apply Failed'", test_patch.rstrip("\n"),
              HEREDOC,
              f": '{START_TEST_OUTPUT}'", test_cmd, f": '{END_TEST_OUTPUT}'"]
    if modified:
        lines.append(f"git checkout {base_commit} -- {' '.join(modified)}")
    return "\n".join(lines) + "\n"


def split_eval_script(script: str) -> tuple[str, str]:
    """(everything before the test command, the test command): the test command is the line right
    before the end marker, as swebench's ``record_test_exit_code`` assumes."""
    lines = [ln for ln in script.splitlines() if ln.strip() not in ("#!/bin/bash", "set -uxo pipefail")]
    for i, ln in enumerate(lines):
        if END_TEST_OUTPUT in ln:
            if i == 0:
                break
            return "\n".join(lines[:i - 1]), lines[i - 1]
    raise ValueError("eval_script has no end-of-test marker line")
