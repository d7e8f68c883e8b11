"""SWE-bench rows as they come, checked and completed once, when the env is made.

``prepare(rows, ...)`` takes rows of any vintage (v5 rows with ``image``/``eval_script``/``log_parser``/
``eval_type``; classic rows without them; SWE-Gym-style rows of repos swebench's tables do not know, given
``specs``; our own rows with a ``bundle`` or an ``sdist``), derives what is missing (``derive``), and
checks every field the env and the grader will read. Every problem of every row is collected, and one
``InvalidInstances`` error names them all, so a dataset is fixed in one pass instead of one ``KeyError``
per episode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from aem_envs.error import AEMError
from aem_envs.swe import derive
from aem_envs.swe.test_spec import split_eval_script

# What the env and the grader read from every row (``version`` only to derive, and for swebench's TestSpec).
REQUIRED = ("instance_id", "repo", "base_commit", "problem_statement", "patch", "test_patch", "FAIL_TO_PASS",
            "PASS_TO_PASS")
_HEX = re.compile(r"^[0-9a-f]{7,64}$")
MAX_LISTED = 20


class InvalidInstances(AEMError, ValueError):
    """Rows that cannot be used; the message lists every problem of every row."""


def _json_list(value: Any) -> list | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if hasattr(value, "tolist"):  # numpy arrays from parquet
        value = value.tolist()
    if isinstance(value, (list, tuple)) and all(isinstance(t, str) and t for t in value):
        return list(value)
    return None


def _field_problems(row: Mapping[str, Any]) -> list[str]:
    out = []
    missing = [k for k in REQUIRED if row.get(k) is None]
    if missing:
        out.append(f"missing fields {missing}")
    for k in ("instance_id", "repo", "problem_statement", "patch", "test_patch"):
        if k not in missing and (not isinstance(row[k], str) or not row[k].strip()):
            out.append(f"{k} must be a non-empty string")
    base = row.get("base_commit")
    if base is not None and not (isinstance(base, str) and _HEX.match(base)):
        out.append(f"base_commit must be a git commit hash, got {str(base)[:60]!r}")
    for k in ("patch", "test_patch"):
        v = row.get(k)
        if isinstance(v, str) and v.strip() and "\n+++ " not in v and "\nrename to " not in v:
            out.append(f"{k} is not a unified diff (no '+++ ' line)")
    for k in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        if k not in missing and _json_list(row[k]) is None:
            out.append(f"{k} must be a list of test ids (a JSON string or a list of strings)")
    if "FAIL_TO_PASS" not in missing and _json_list(row["FAIL_TO_PASS"]) == []:
        out.append("FAIL_TO_PASS is empty (every patch would resolve it)")
    if row.get("gold_exit_code") is not None and not isinstance(row["gold_exit_code"], int):
        out.append("gold_exit_code must be an integer")
    return out


def _v5_problems(row: Mapping[str, Any], parsers: set[str] | None) -> list[str]:
    out = []
    try:
        split_eval_script(row["eval_script"])
    except (ValueError, TypeError, AttributeError):
        out.append("eval_script has no ': '>>>>> End Test Output'' line after its test command")
    if parsers is not None and row["log_parser"] not in parsers:
        out.append(f"log_parser {row['log_parser']!r} is not in swebench's PARSER_REGISTRY")
    if row["eval_type"] not in ("pass_and_fail", "fail_only"):
        out.append(f"eval_type must be 'pass_and_fail' or 'fail_only', got {row['eval_type']!r}")
    if not row.get("bundle") and not isinstance(row.get("image"), str):
        out.append("image must name a Docker image")
    return out


def _bundle_problems(bundle: Any, folder: Path | None) -> list[str]:
    """A ``bundle`` must be a git bundle file next to the rows (``git bundle create``; not a folder)."""
    where = f" (in {folder})" if folder else ""
    if not (folder and isinstance(bundle, str) and (folder / bundle).is_file()):
        return [f"bundle {bundle!r} is not a file next to the rows{where}"]
    with open(folder / bundle, "rb") as f:
        head = f.read(20)
    if not head.startswith((b"# v2 git bundle", b"# v3 git bundle")):
        return [f"bundle {bundle!r} is not a git bundle "
                f"(make one with `git bundle create`, or `aem swe add`)"]
    return []


def _sdist_problems(sdist: Any, folder: Path | None) -> list[str]:
    """An ``sdist`` row (swe-real, docs/swe-real.md) names a project of the ``sources.json`` next to it."""
    try:
        projects = json.loads((folder / "sources.json").read_text(encoding="utf-8"))["projects"]
    except (TypeError, OSError, ValueError, KeyError):
        return [f"sdist {sdist!r}: its task folder's sources.json (the pinned releases) is not next "
                f"to the rows; "
                "load the whole task folder, e.g. instances_source=\"swe-real\""]
    if not isinstance(sdist, str) or sdist not in projects:
        return [f"sdist {sdist!r} is not a project of {folder / 'sources.json'}"]
    return []


def _parsers() -> set[str] | None:
    try:
        from swebench.harness.log_parsers import PARSER_REGISTRY
    except ImportError:  # grading needs swebench anyway; the env says so when it grades
        return None
    return set(PARSER_REGISTRY)


def _normalise(row: Mapping[str, Any]) -> dict[str, Any]:
    """Plain Python values (parquet gives numpy arrays; HF gives strings): lists stay as they came."""
    out = {}
    for k, v in row.items():
        out[k] = v.tolist() if hasattr(v, "tolist") and not isinstance(v, (str, bytes)) else v
    return out


def prepare(rows: Iterable[Mapping[str, Any]], *, source: str, folder: Path | None = None,
            image_naming: str | Callable | None = None, specs: Mapping[str, Any] | None = None
            ) -> list[dict[str, Any]]:
    """Checked, completed copies of ``rows`` (see the module docstring), or ``InvalidInstances``."""
    extra = derive.load_extra(specs)
    parsers = _parsers()
    out, problems, seen = [], [], set()
    rows = list(rows)
    for i, raw in enumerate(rows):
        if not isinstance(raw, Mapping):
            problems.append(f"row {i}: not an object but {type(raw).__name__}")
            continue
        row = _normalise(raw)
        iid = row.get("instance_id") if isinstance(row.get("instance_id"), str) else f"row {i}"
        errs = _field_problems(row)
        if iid in seen:
            errs.append("instance_id appears twice")
        seen.add(iid)
        needs = [k for k in ("eval_script", "log_parser") if not row.get(k)]
        if not errs and needs and not isinstance(row.get("version"), str):
            errs.append(f"version (a string, e.g. \"3.0\") is needed to derive {needs}, "
                        f"got {row.get('version')!r}")
        row.setdefault("version", "")
        if not errs:
            try:
                row.update(derive.derive(row, image_naming, extra))
            except derive.DeriveError as e:
                errs.append(str(e))
        if not errs:
            errs += _v5_problems(row, parsers)
        bundle = row.get("bundle")
        if bundle is not None:
            errs += _bundle_problems(bundle, folder)
        if row.get("sdist") is not None:
            errs += _sdist_problems(row["sdist"], folder)
        if errs:
            problems.append(f"{iid}: " + "; ".join(errs))
        out.append(row)
    if not rows:
        problems.append("no rows")
    if problems:
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise InvalidInstances(f"{len(problems)} of {len(rows)} rows in {source} cannot be used:\n  "
                               + "\n  ".join(problems[:MAX_LISTED]) + more)
    return out
