"""The bundled swe-mini set: format, manifest, and the proof that every task is well posed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from aem_envs.swe import instances
from aem_envs.swe.build_mini import parse_task
from aem_envs.swe.test_spec import is_protected, patch_files, split_eval_script
from aem_envs.tasks import tasks_root

from .conftest import grade_patch

FIELDS = ("instance_id", "repo", "base_commit", "problem_statement", "patch", "test_patch", "FAIL_TO_PASS",
          "PASS_TO_PASS", "version", "environment_setup_commit", "created_at", "hints_text", "image",
          "eval_script", "log_parser", "eval_type")


def all_ids(ts):
    return [i for s in ts.splits() for i in ts.ids(s)]


def test_instances_in_swebench_format(taskset):
    ids = all_ids(taskset)
    assert len(ids) >= 30 and set(taskset.splits()) == {"train", "test"}
    kinds = set()
    for iid in ids:
        row = taskset.get(iid)
        assert all(k in row for k in FIELDS), iid
        f2p, p2p = instances.as_list(row["FAIL_TO_PASS"]), instances.as_list(row["PASS_TO_PASS"])
        assert f2p and isinstance(row["FAIL_TO_PASS"], str), iid
        assert not set(f2p) & set(p2p)
        modified, created = patch_files(row["patch"])
        assert modified + created and not any(is_protected(p) for p in modified + created), iid
        assert all(is_protected(p) for p in sum(patch_files(row["test_patch"]), [])), iid
        assert split_eval_script(row["eval_script"])[1].startswith("python3 -m pytest -rA")
        kinds.add(row["task_type"])
    assert {"logic", "off-by-one", "edge-case", "api-misuse", "multi-file"} <= kinds


def test_swebench_accepts_rows(taskset):
    from swebench.harness.utils import make_test_spec

    spec = make_test_spec(dict(taskset.get(all_ids(taskset)[0])))
    assert spec.log_parser == "parse_log_pytest" and spec.FAIL_TO_PASS


def test_sources_parse_and_match_rows(taskset):
    srcs = sorted((tasks_root() / "swe-mini" / "src").glob("*.task"))
    assert len(srcs) == len(all_ids(taskset))
    assert {parse_task(p).instance_id for p in srcs} == set(all_ids(taskset))


def test_local_jsonl_loader(tmp_path, taskset):
    import json

    rows = [{k: v for k, v in taskset.get(i).items() if k != "bundle"} for i in all_ids(taskset)[:2]]
    p = tmp_path / "verified.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ts = instances.load(p)
    assert ts.ids("test") == [r["instance_id"] for r in rows]
    with pytest.raises(ValueError, match=r"x: missing fields \['repo', 'base_commit'"):
        instances.InstanceList([{"instance_id": "x"}])


def test_gold_resolves_and_empty_does_not_for_every_task(taskset, runtime):
    """The proof for all bundled tasks, on both runtimes: gold patch → resolved (canaries, counts and
    exit code all consistent), empty patch → not resolved (and not mistaken for tampering)."""
    rows = [dict(taskset.get(i)) for i in all_ids(taskset)]

    def both(row):
        return grade_patch(taskset, row, row["patch"], runtime), grade_patch(taskset, row, "", runtime)

    with ThreadPoolExecutor(2) as pool:
        for row, (gold, empty) in zip(rows, pool.map(both, rows), strict=True):
            assert gold.resolved and gold.reward == 1.0, (row["instance_id"], gold.reason, gold.log[-1500:])
            assert not gold.tampered and not empty.tampered and not gold.integrity, row["instance_id"]
            assert gold.applied_files == sorted(sum(patch_files(row["patch"]), []))
            assert not empty.resolved and empty.reward == 0.0, row["instance_id"]
            assert empty.tests_status["FAIL_TO_PASS"]["failure"], row["instance_id"]
