"""The v5 fields of a classic SWE-bench row (``eval_script``, ``log_parser``, ``eval_type``, ``image``),
derived the way swebench 4.1.0 derived them.

Rows from before swebench 5 (the 4.x-era schema of older HF revisions, SWE-agent's samples, SWE-Gym and
other derived datasets) carry the 12 classic fields only; swebench 5 cannot grade them and cannot derive
what is missing. swebench 4.1.0 derived all four from tables keyed by ``repo`` and ``version``; those
tables ship as data in ``tasks/swebench/specs-4.1.0.json`` (MIT, exported by
``scripts/swebench_specs.py``), and this module writes the eval script from them in the same shape,
line for line, as 4.1.0's ``make_eval_script_list`` (tests/aem_envs/swe/test_rows.py compares the two on
genuine rows). Repos outside those tables (SWE-Gym's, your own) can be described with ``extra`` specs of
the same shape. docs/swe-rows.md has the user-facing story.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from aem_envs.swe.test_spec import END_TEST_OUTPUT, HEREDOC, START_TEST_OUTPUT
from aem_envs.tasks import tasks_root

SPECS_FILE = ("swebench", "specs-4.1.0.json")
ENV_NAME, WORKDIR = "testbed", "/testbed"
V5_FIELDS = ("image", "eval_script", "log_parser", "eval_type")
_DIRECTIVE = re.compile(r"diff --git a/.* b/(.*)")
# Image names: the harness's published ones (4.1.0's instance_image_key with namespace "swebench", as in
# every v5 row) and the ones a local build gets (no namespace, as 4.x and 5.x name local builds).
NAMINGS = {
    "harness": lambda iid: f"swebench/sweb.eval.x86_64.{iid.lower()}:latest".replace("__", "_1776_"),
    "local": lambda iid: f"sweb.eval.x86_64.{iid.lower()}:latest",
}


class DeriveError(ValueError):
    """A row's missing v5 fields cannot be derived; the message says what to supply instead."""


@lru_cache(maxsize=1)
def specs_data() -> dict[str, Any]:
    return json.loads(tasks_root().joinpath(*SPECS_FILE).read_text(encoding="utf-8"))


def load_extra(extra: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """User specs for repos 4.1.0 does not know: ``{repo: {"log_parser": ..., "ext": "py",
    "versions": {version or "*": {"test_cmd": ..., "install": ..., ...}}}}``, or a JSON file of that."""
    if extra is None:
        return {}
    if isinstance(extra, (str, Path)):
        p = Path(extra).expanduser()
        if not p.is_file():
            raise DeriveError(f"specs file {str(extra)!r} does not exist")
        try:
            extra = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DeriveError(f"specs file {p} is not valid JSON: {e}") from None
    if not isinstance(extra, Mapping) or not all(
            isinstance(v, Mapping) and isinstance(v.get("versions"), Mapping) for v in extra.values()):
        raise DeriveError('specs must map repo -> {"versions": {version: {"test_cmd": ...}}, '
                          '"log_parser": ...}')
    return dict(extra)


def repo_spec(repo: str, version: Any, extra: Mapping[str, Any] | None = None) -> tuple[dict, dict]:
    """(repo entry, version spec) from ``extra`` first, then 4.1.0's tables; DeriveError naming the fix."""
    entry = (extra or {}).get(repo) or specs_data()["repos"].get(repo)
    if entry is None:
        raise DeriveError(f"swebench 4.1.0's tables have no specs for repo {repo!r}: give the row its own "
                          "eval_script/log_parser (a v5 row), or pass specs={repo: {'log_parser': ..., "
                          "'versions': {version: {'test_cmd': ...}}}} to make()")
    versions = entry["versions"]
    spec = versions.get(version if isinstance(version, str) else str(version)) or versions.get("*")
    if spec is None:
        known = ", ".join(sorted(versions)[:40])
        why = "" if isinstance(version, str) else \
            " (version must be a string: a JSON number loses digits, 0.20 -> 0.2)"
        raise DeriveError(f"no spec for {repo} version {version!r}{why}; known versions: {known}")
    if "test_cmd" not in spec:
        raise DeriveError(f"the spec of {repo} {version} has no test_cmd")
    return entry, spec


def modified_files(patch: str) -> list[str]:
    """Files a diff changes that exist before it (created files excluded), as 4.1.0's
    ``get_modified_files`` (unidiff) reports them."""
    from unidiff import PatchSet

    return [f.source_file[2:] for f in PatchSet(patch)
            if f.source_file != "/dev/null" and f.source_file.startswith("a/")]


def test_directives(row: Mapping[str, Any]) -> list[str]:
    """The test command's arguments: the test patch's files minus non-test extensions; Django's become
    dotted module names without the ``tests/`` prefix."""
    if row["repo"] == "swe-bench/humaneval":
        return ["test.py"]
    exts = specs_data()["non_test_exts"]
    out = [d for d in _DIRECTIVE.findall(row["test_patch"]) if not any(d.endswith(e) for e in exts)]
    if row["repo"] == "django/django":
        out = [d.removesuffix(".py").removeprefix("tests/").replace("/", ".") for d in out]
    return out


def _reset_and_apply(row: Mapping[str, Any], apply_flags: str, empty_reset: str | None) -> tuple[str, str]:
    files = modified_files(row["test_patch"])
    reset = f"git checkout {row['base_commit']} {' '.join(files)}" if files or empty_reset is None \
        else empty_reset
    return reset, f"git apply {apply_flags} - <<'{HEREDOC}'\n{row['test_patch']}\n{HEREDOC}"


def _python_lines(row: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    if not isinstance(spec["test_cmd"], str):
        raise DeriveError(f"{row['repo']} {row['version']}: a Python spec needs one test_cmd string")
    reset, apply = _reset_and_apply(row, "-v", None)
    activate = ["source /opt/miniconda3/bin/activate", f"conda activate {ENV_NAME}"]
    lines = [*activate, f"cd {WORKDIR}", *spec.get("eval_commands", []),
             f"git config --global --add safe.directory {WORKDIR}", f"cd {WORKDIR}", "git status", "git show",
             f"git -c core.fileMode=false diff {row['base_commit']}", *activate]
    if "install" in spec:
        lines.append(spec["install"])
    test_cmd = " ".join([spec["test_cmd"], *test_directives(row)])
    return [*lines, reset, apply, f": '{START_TEST_OUTPUT}'", test_cmd, f": '{END_TEST_OUTPUT}'", reset]


def _common_lines(row: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    reset, apply = _reset_and_apply(row, "--verbose --reject", 'echo "No test files to reset"')
    cmds = [spec["test_cmd"]] if isinstance(spec["test_cmd"], str) else list(spec["test_cmd"])
    return [f"cd {WORKDIR}", f"git config --global --add safe.directory {WORKDIR}", f"cd {WORKDIR}", reset,
            apply, *spec.get("build", []), f": '{START_TEST_OUTPUT}'", *cmds, f": '{END_TEST_OUTPUT}'", reset]


def _js_lines(row: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    if row["repo"] == "Automattic/wp-calypso":
        raise DeriveError("Automattic/wp-calypso rows need per-file test commands: use its v5 rows")
    lines = _common_lines(row, spec)
    assets = row.get("image_assets") or {}
    assets = json.loads(assets) if isinstance(assets, str) else assets
    downloads = []
    for a in assets.get("test_patch", []):  # fetched from the network at grading time, as in 4.1.0
        downloads += [f"mkdir -p {Path(a['path']).parent}", f"curl -o {a['path']} {a['url']}",
                      f"chmod 777 {a['path']}"]
    return lines[:4] + downloads + lines[4:]


_SCRIPTS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]] = {
    "py": _python_lines, "js": _js_lines}


def eval_script(row: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> str:
    """The eval script swebench 4.1.0 writes for ``row`` (``#!/bin/bash``, ``set -uxo pipefail``, lines)."""
    entry, spec = repo_spec(row["repo"], row["version"], extra)
    lines = _SCRIPTS.get(entry.get("ext", "py"), _common_lines)(row, spec)
    return "\n".join(["#!/bin/bash", "set -uxo pipefail", *lines]) + "\n"


def log_parser(row: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> str:
    entry, _ = repo_spec(row["repo"], row["version"], extra)
    if not entry.get("log_parser"):
        raise DeriveError(f"no log parser is known for {row['repo']}; set log_parser in its specs")
    return entry["log_parser"]


def eval_type(row: Mapping[str, Any]) -> str:
    return "fail_only" if row["repo"] in specs_data()["fail_only_repos"] else "pass_and_fail"


def image_name(row: Mapping[str, Any], naming: str | Callable[[Mapping[str, Any]], str]) -> str:
    """``naming``: "harness" (``swebench/sweb.eval.x86_64.<id, __ as _1776_>:latest``), "local"
    (``sweb.eval.x86_64.<id>:latest``), a format string over the row's fields plus ``id`` (the lowercased
    instance id), or a callable taking the row."""
    if callable(naming):
        return str(naming(row))
    if naming in NAMINGS:
        return NAMINGS[naming](row["instance_id"])
    if "{" in naming:
        try:
            return naming.format(**{k: v for k, v in row.items() if isinstance(v, str)},
                                 id=row["instance_id"].lower())
        except (KeyError, IndexError, ValueError) as e:
            raise DeriveError(f"image_naming {naming!r} cannot be filled from the row: {e!r}") from None
    raise DeriveError(f"image_naming must be one of {sorted(NAMINGS)}, a format string or a callable, "
                      f"not {naming!r}")


def derive(row: Mapping[str, Any], naming: str | Callable | None = None,
           extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The v5 fields ``row`` lacks (and ``image`` whenever ``naming`` is given), derived as above."""
    out: dict[str, Any] = {}
    if not row.get("eval_script"):
        out["eval_script"] = eval_script(row, extra)
    if not row.get("log_parser"):
        out["log_parser"] = log_parser(row, extra)
    if not row.get("eval_type"):
        out["eval_type"] = eval_type(row)
    if naming is not None or not row.get("image"):
        out["image"] = image_name(row, naming or "harness")
    return out
