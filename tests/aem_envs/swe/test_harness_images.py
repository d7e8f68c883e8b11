"""Genuine SWE-bench rows on harness-layout images built here (issue 18): through the env and through
swebench's own ``run_evaluation`` on the same images, with the same verdicts.

Two SWE-bench Lite rows of two repositories, ``pallets__flask-4992`` (its v5 row) and
``pytest-dev__pytest-11143`` (its classic row: eval script, parser and image name derived here), each on an
image ``harness_image`` builds from a one-commit bundle of the repo and wheels from PyPI (cached: an
image whose inputs did not change is reused). Slow: the first run builds both images (~1-2 min).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

import aem_envs
from aem_envs.swe import harness_image, instances, repos

from .conftest import require

pytestmark = pytest.mark.slow
DATA = Path(__file__).parent / "data" / "swebench"
TAG = "aem-test"  # never the names of images a user may have pulled or built (":latest")
NAMING = "sweb.eval.x86_64.{id}:" + TAG
FLASK, PYTEST = "pallets__flask-4992", "pytest-dev__pytest-11143"
SOURCES = {FLASK: DATA / "lite-v5.jsonl", PYTEST: DATA / "lite-classic.jsonl"}


def _row(iid: str) -> dict:
    return dict(instances.load(SOURCES[iid], image_naming=NAMING).get(iid))


@pytest.fixture(scope="module")
def images():
    """Both images, built by the project's own tooling (or reused when their inputs did not change)."""
    require("docker")
    recipes = json.loads((DATA / "images.json").read_text())
    for iid in (FLASK, PYTEST):
        row, bundle = _row(iid), DATA / "bundles" / f"{iid}.bundle"
        recipe = harness_image.recipe_for(row, bundle, requirements=recipes[iid]["requirements"],
                                          build_requirements=recipes[iid]["build_requirements"])
        harness_image.build(recipe, bundle, row["image"], progress=False)
    return {iid: _row(iid) for iid in (FLASK, PYTEST)}


def _env(iid: str):
    return aem_envs.make("aem/SWERepair-v0", runtime="docker", instances_source=str(SOURCES[iid]),
                         image_naming=NAMING, grade_timeout=600)


def play(iid: str, actions: list[str], gold: bool = False):
    """Reset ``iid``, run ``actions`` (then the gold oracle if ``gold``), submit: the GradeResult."""
    env = _env(iid)
    try:
        env.reset(options={"instance_id": iid})
        for a in actions:
            obs, _, term, _, info = env.step(a)
            assert info["is_action_valid"] and not term, obs
        while gold and (a := env.unwrapped.oracle_action()) != "<submit/>":
            obs, _, _, _, info = env.step(a)
            assert info["is_action_valid"], obs
        obs, reward, term, _, info = env.step("<submit/>")
        assert term and info["is_action_valid"], obs
        res = env.unwrapped.last_grade
        assert reward == res.reward
        return res
    finally:
        env.close()


@pytest.fixture(scope="module")
def env_results(images):
    from concurrent.futures import ThreadPoolExecutor

    keys = [(iid, kind) for iid in images for kind in ("gold", "empty")]
    with ThreadPoolExecutor(2) as pool:  # two episodes at a time, as a rollout worker pool would
        return dict(zip(keys, pool.map(lambda k: play(k[0], [], gold=k[1] == "gold"), keys), strict=True))


def _noop_patch(row: dict, tmp: Path) -> str:
    """A diff adding one comment line to the first source file the gold patch changes."""
    path = re.search(r"^diff --git a/(\S+)", row["patch"], re.M).group(1)
    tree = tmp / row["instance_id"]
    repos.unbundle(DATA / "bundles" / f"{row['instance_id']}.bundle", row["base_commit"], tree)
    with open(tree / path, "a") as f:
        f.write("# no change in behaviour\n")
    return repos.git("diff", "--no-color", cwd=tree)


@pytest.fixture(scope="module")
def swebench_results(images, tmp_path_factory):
    """swebench 5.0.2's run_evaluation on the same images and rows (the rows the env completed)."""
    from swebench.harness.run_evaluation import main

    work = tmp_path_factory.mktemp("swebench")
    (work / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in images.values()))
    out, cwd = {}, os.getcwd()
    os.chdir(work)  # run_evaluation writes logs/ and its report into the current directory
    try:
        patches = {"gold": {iid: r["patch"] for iid, r in images.items()},
                   "noop": {iid: _noop_patch(r, work) for iid, r in images.items()},
                   "empty": dict.fromkeys(images, "")}
        for kind, by_id in patches.items():
            preds = [{"instance_id": iid, "model_name_or_path": kind, "model_patch": p}
                     for iid, p in by_id.items()]
            (work / f"{kind}.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
            run_id = f"aem{kind}{os.getpid()}{int(time.time())}"
            main(dataset_name=str(work / "rows.jsonl"), split="test", instance_ids=None,
                 predictions_path=str(work / f"{kind}.jsonl"), max_workers=2, open_file_limit=4096,
                 run_id=run_id, timeout=600, rewrite_reports=False, modal=False, report_dir=str(work))
            summary = json.loads((work / f"{kind}.{run_id}.json").read_text())
            for iid in images:
                rep = work / "logs" / "run_evaluation" / run_id / kind / iid / "report.json"
                report = json.loads(rep.read_text())[iid] if rep.is_file() else None
                out[(iid, kind)] = (iid in summary["resolved_ids"], report, summary)
    finally:
        os.chdir(cwd)
    return out


def test_gold_resolves_and_empty_does_not_through_the_env(env_results):
    for iid in (FLASK, PYTEST):
        gold, empty = env_results[(iid, "gold")], env_results[(iid, "empty")]
        assert gold.resolved and gold.reward == 1.0, (iid, gold.reason, gold.log[-2000:])
        assert not gold.tampered and not gold.infra_error and gold.applied_files, iid
        assert not empty.resolved and not empty.tampered and not empty.infra_error, (iid, empty.reason)
        assert empty.tests_status["FAIL_TO_PASS"]["failure"], iid


def test_swebench_run_evaluation_gives_the_same_verdicts(env_results, swebench_results):
    for iid in (FLASK, PYTEST):
        resolved, report, _ = swebench_results[(iid, "gold")]
        assert resolved and report["resolved"], (iid, report)
        ours = env_results[(iid, "gold")].tests_status
        assert {k: sorted(v["success"]) for k, v in report["tests_status"].items()} == \
            {k: sorted(v["success"]) for k, v in ours.items()}, iid
        resolved, report, _ = swebench_results[(iid, "noop")]
        assert not resolved and report is not None and not report["resolved"], iid
        ours = env_results[(iid, "empty")].tests_status
        for k in ("FAIL_TO_PASS", "PASS_TO_PASS"):
            assert sorted(report["tests_status"][k]["failure"]) == sorted(ours[k]["failure"]), (iid, k)
            assert sorted(report["tests_status"][k]["success"]) == sorted(ours[k]["success"]), (iid, k)
        resolved, _, summary = swebench_results[(iid, "empty")]
        assert not resolved and iid in summary["empty_patch_ids"], iid


def test_the_agent_edits_testbed_as_an_unprivileged_user(images):
    env = _env(FLASK)
    try:
        env.reset(options={"instance_id": FLASK})
        obs = env.step("<bash>id -u; id -g; grep CapEff /proc/self/status; touch src/flask/new_mod.py && "
                       "echo WROTE; echo x >> src/flask/config.py && echo EDITED; touch /etc/aem 2>&1 | "
                       "tail -1</bash>")[0]
        assert "1000\n1000\n" in obs and "CapEff:\t0000000000000000" in obs, obs
        assert "WROTE" in obs and "EDITED" in obs and ("Read-only" in obs or "Permission denied" in obs), obs
    finally:
        env.close()


def test_deletions_and_renames_grade_from_the_images_tree(images):
    rename = ("<bash>git mv src/flask/json/tag.py src/flask/json/tags.py && "
              "sed -i 's/from .json.tag import/from .json.tags import/' src/flask/sessions.py</bash>")
    res = play(FLASK, [rename], gold=True)
    assert res.resolved, (res.reason, res.log[-1500:])
    moved = {"src/flask/json/tag.py", "src/flask/json/tags.py", "src/flask/sessions.py"}
    assert moved <= set(res.applied_files)
    assert "rename from src/flask/json/tag.py\nrename to src/flask/json/tags.py" in res.model_patch
    res = play(FLASK, ["<bash>rm src/flask/json/tag.py</bash>"], gold=True)
    assert not res.resolved and "src/flask/json/tag.py" in res.applied_files, res.reason
    assert "deleted file mode" in res.model_patch and not res.infra_error


def test_a_broken_package_is_graded_as_such(images):
    """The package's directory replaced by a file of its name: the tree is written as the agent left it and
    the tests cannot even import the package - not resolved, and not mistaken for tampering."""
    res = play(FLASK, ["<bash>rm -r src/flask/json && echo 'x = 1' > src/flask/json</bash>"])
    assert not res.resolved and not res.infra_error and not res.tampered and res.reward == 0.0, res.reason
    assert "src/flask/json" in res.applied_files and "the tests did not run: pytest exited 4" in res.reason
