"""SWE-bench rows as they come (issue 18): every vintage and source loads, classic rows get the v5 fields
swebench 4.1.0 would derive (compared with 4.1.0's own output on genuine rows), and every bad row, path or
image is one clear message at make()/reset(). Genuine rows: data/swebench/README.md."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import aem_envs
from aem_envs.error import UnknownTaskError
from aem_envs.swe import derive, instances, rows
from aem_envs.swe.sandbox import RuntimeUnavailable

DATA = Path(__file__).parent / "data" / "swebench"
V5 = [json.loads(line) for line in (DATA / "lite-v5.jsonl").read_text().splitlines()]
CLASSIC = [json.loads(line) for line in (DATA / "lite-classic.jsonl").read_text().splitlines()]
GOLDEN = json.loads((DATA / "swebench-4.1.0-derived.json").read_text())
# The one Lite row here whose published eval script resets a file its test patch creates: later swebench
# versions list created files in the reset line, 4.1.0 (whose derivation we reproduce) does not.
RESETS_CREATED = {"pallets__flask-4992"}


def strip(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in derive.V5_FIELDS}


def golden_rows() -> list[dict]:
    by_id = {r["instance_id"]: r for r in CLASSIC}
    by_id.update({r["instance_id"]: strip(r) for r in V5 if r["instance_id"] not in by_id})
    assert set(by_id) == set(GOLDEN)
    return list(by_id.values())


@pytest.mark.parametrize("row", golden_rows(), ids=lambda r: r["instance_id"])
def test_derivation_equals_swebench_410(row):
    want = GOLDEN[row["instance_id"]]
    got = derive.derive(row)
    assert got["eval_script"] == want["eval_script"]
    assert got["log_parser"] == want["log_parser"]
    assert got["image"] == want["image_harness"]
    assert derive.image_name(row, "local") == want["image_local"]
    assert got["eval_type"] == "pass_and_fail"


@pytest.mark.parametrize("row", V5, ids=lambda r: r["instance_id"])
def test_derivation_matches_the_published_v5_fields(row):
    from swebench.harness.log_parsers import PARSER_REGISTRY

    got = derive.derive(strip(row))
    assert got["image"] == row["image"]
    assert got["eval_type"] == row["eval_type"]
    assert PARSER_REGISTRY[got["log_parser"]] is PARSER_REGISTRY[row["log_parser"]]  # 5.x renamed aliases
    if row["instance_id"] in RESETS_CREATED:
        assert got["eval_script"] != row["eval_script"]
        assert "tests/static/config.toml tests/test_config.py" in row["eval_script"]
    else:
        assert got["eval_script"] == row["eval_script"]


def test_classic_rows_load_with_v5_fields_swebench_accepts(tmp_path):
    from swebench.harness.utils import make_test_spec

    ts = instances.load(DATA / "lite-classic.jsonl")
    assert ts.ids("test") == [r["instance_id"] for r in CLASSIC]
    for iid in ts.ids("test"):
        row = ts.get(iid)
        assert row["image"] == GOLDEN[iid]["image_harness"]
        assert row["eval_script"] == GOLDEN[iid]["eval_script"]
        spec = make_test_spec(dict(row))  # swebench 5.0.2 grades rows the project completes
        assert spec.log_parser == GOLDEN[iid]["log_parser"] and spec.FAIL_TO_PASS
    naming = instances.load(DATA / "lite-classic.jsonl", image_naming="local")
    assert naming.get("django__django-15781")["image"] == "sweb.eval.x86_64.django__django-15781:latest"


def _write_formats(tmp_path: Path) -> dict[str, Path]:
    import pandas as pd

    out = {"jsonl": DATA / "lite-v5.jsonl"}
    out["json-list"] = tmp_path / "rows.json"
    out["json-list"].write_text(json.dumps(V5))
    out["json-dict"] = tmp_path / "by_id.json"
    out["json-dict"].write_text(json.dumps({r["instance_id"]: strip(r) | {"image": r["image"]} for r in V5}))
    out["parquet"] = tmp_path / "rows.parquet"
    pd.DataFrame(V5).to_parquet(out["parquet"])
    split_dir = tmp_path / "built"
    split_dir.mkdir()
    shutil.copy(out["parquet"], split_dir / "test.parquet")  # as `swebench dataset build` writes it
    out["split-folder"] = split_dir
    return out


def test_every_local_format_loads_the_same_rows(tmp_path):
    from datasets import Dataset

    sources = _write_formats(tmp_path)
    Dataset.from_list(V5).save_to_disk(str(tmp_path / "saved"))
    sources["save_to_disk"] = tmp_path / "saved"
    want = [r["instance_id"] for r in V5]
    for kind, src in sources.items():
        ts = instances.load(str(src))
        split = ts.splits()[0]
        assert ts.ids(split) == want, kind
        row = ts.get("pallets__flask-4992")
        f2p = instances.as_list(row["FAIL_TO_PASS"])
        assert f2p == ["tests/test_config.py::test_config_from_file_toml"], kind
        assert row["image"] == "swebench/sweb.eval.x86_64.pallets_1776_flask-4992:latest", kind


def test_cached_hf_datasets_load_offline(tmp_path, monkeypatch):
    """Both caches a user may have: `datasets`' own (an earlier load_dataset) and a Hub snapshot
    (huggingface-cli download); swebench's aliases and the princeton-nlp/SWE-bench twins resolve."""
    import datasets
    import huggingface_hub
    from datasets.packaged_modules.parquet.parquet import Parquet

    home = tmp_path / "hf"  # what HF_HOME=... at process start sets
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(home / "datasets"))
    import pandas as pd

    pq = tmp_path / "lite.parquet"
    pd.DataFrame(V5).to_parquet(pq)
    # 1. the datasets cache, as load_dataset("SWE-bench/SWE-bench_Lite") leaves it
    b = Parquet(dataset_name="swe-bench_lite", config_name="default", data_files={"test": str(pq)},
                hash="aem", cache_dir=str(home / "datasets"))
    b.download_and_prepare()
    dest = home / "datasets" / "SWE-bench___swe-bench_lite" / "default" / "0.0.0" / "aem"
    dest.parent.mkdir(parents=True)
    shutil.move(b.cache_dir, dest)
    # 2. a Hub snapshot of princeton-nlp/SWE-bench_Verified (the test uses the Lite rows under that name)
    snap = home / "hub" / "datasets--princeton-nlp--SWE-bench_Verified"
    (snap / "snapshots" / ("0" * 40) / "data").mkdir(parents=True)
    shutil.copy(pq, snap / "snapshots" / ("0" * 40) / "data" / "test-00000-of-00001.parquet")
    (snap / "refs").mkdir()
    (snap / "refs" / "main").write_text("0" * 40)
    want = [r["instance_id"] for r in V5]
    for name in ("SWE-bench/SWE-bench_Lite", "lite", "princeton-nlp/SWE-bench_Lite",
                 "princeton-nlp/SWE-bench_Verified", "SWE-bench/SWE-bench_Verified", "verified"):
        ts = instances.load(name)
        assert ts.ids("test") == want, name
    want_msg = r"not in the local cache.*huggingface-cli download --repo-type dataset SWE-bench/SWE-bench\b"
    with pytest.raises(UnknownTaskError, match=want_msg):
        instances.load("SWE-bench/SWE-bench")


def test_a_mistyped_path_is_reported_as_a_path(tmp_path):
    for bad, why in ((str(DATA / "lite-v5.jsnol"), "holds .*'lite-v5.jsonl'"),
                     ("./rows/test.jsonl", "'rows' in it"),
                     (str(tmp_path / "missing" / "x.parquet"), "'missing' in it does not"),
                     ("~/nowhere/rows.json", "'nowhere' in it does not")):
        with pytest.raises(FileNotFoundError, match=f"no such file or folder.*{why}"):
            instances.load(bad)
    with pytest.raises(FileNotFoundError):
        aem_envs.make("aem/SWERepair-v0", runtime="bwrap", instances_source=str(DATA / "lite_v5.jsonl"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(rows.InvalidInstances, match="holds no SWE rows"):
        instances.load(tmp_path / "empty")
    bad_json = tmp_path / "broken.jsonl"
    bad_json.write_text('{"instance_id": "a"}\nnot json\n')
    with pytest.raises(rows.InvalidInstances, match="line 2 is not JSON"):
        instances.load(bad_json)


def test_every_problem_of_every_row_in_one_message(tmp_path):
    ok = dict(CLASSIC[2])
    bad = [
        {"instance_id": "a__b-1", "repo": "a/b"},                                     # most fields missing
        {**ok, "instance_id": "x__y-1", "FAIL_TO_PASS": "[]", "base_commit": "main"},  # vacuous F2P; no hash
        {**ok, "instance_id": "x__y-2", "version": 8.0},                               # JSON number version
        {**ok, "instance_id": "x__y-3", "repo": "getmoto/moto"},                       # SWE-Gym-style
        {**ok, "instance_id": "x__y-4", "eval_script": "pytest", "log_parser": "parse_log_nope",
         "eval_type": "both", "image": "i"},
        {**ok, "instance_id": "x__y-5", "test_patch": "not a diff", "PASS_TO_PASS": "oops", "bundle": "dir"},
        {**ok, "instance_id": "x__y-6", "bundle": "rows.jsonl"},
        ok, ok,
    ]
    (tmp_path / "dir").mkdir()
    p = tmp_path / "rows.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in bad))
    with pytest.raises(rows.InvalidInstances) as e:
        aem_envs.make("aem/SWERepair-v0", runtime="bwrap", instances_source=str(p))
    msg = str(e.value)
    for part in ("8 of 9 rows", "a__b-1: missing fields ['base_commit', 'problem_statement', 'patch', "
                 "'test_patch', 'FAIL_TO_PASS', 'PASS_TO_PASS']", "FAIL_TO_PASS is empty",
                 "base_commit must be a git commit hash", "version (a string",
                 "no specs for repo 'getmoto/moto'",
                 "specs=", "no ': '>>>>> End Test Output'' line", "'parse_log_nope' is not in swebench",
                 "eval_type must be", "test_patch is not a unified diff", "PASS_TO_PASS must be a list",
                 "bundle 'dir' is not a file", "bundle 'rows.jsonl' is not a git bundle",
                 f"{ok['instance_id']}: instance_id appears twice"):
        assert part in msg, (part, msg)


def test_swe_gym_style_rows_with_specs(tmp_path):
    """Rows of repos swebench 4.1.0 does not know (SWE-Gym's, yours) derive from specs of the same shape."""
    row = {**CLASSIC[2], "repo": "getmoto/moto", "instance_id": "getmoto__moto-1", "version": "4.1"}
    specs = {"getmoto/moto": {"log_parser": "parse_log_pytest",
                              "versions": {"*": {"test_cmd": "pytest -n0 -rA", "install": "make init"}}}}
    spec_file = tmp_path / "specs.json"
    spec_file.write_text(json.dumps(specs))
    p = tmp_path / "gym.jsonl"
    p.write_text(json.dumps(row) + "\n")
    ts = instances.load(p, specs=str(spec_file), image_naming="xingyaoww/sweb.eval.x86_64.{id}:latest")
    got = ts.get("getmoto__moto-1")
    assert got["log_parser"] == "parse_log_pytest"
    assert "\nmake init\n" in got["eval_script"]
    assert "\npytest -n0 -rA testing/test_assertrewrite.py\n: '>>>>> End Test Output'" in got["eval_script"]
    assert got["image"] == "xingyaoww/sweb.eval.x86_64.getmoto__moto-1:latest"
    with pytest.raises(derive.DeriveError, match="specs file"):
        instances.load(p, specs=str(tmp_path / "nope.json"))


def test_image_naming_options():
    row = {"instance_id": "Pallets__flask-4992", "repo": "pallets/flask", "version": "2.3"}
    assert derive.image_name(row, "harness") == "swebench/sweb.eval.x86_64.pallets_1776_flask-4992:latest"
    assert derive.image_name(row, "local") == "sweb.eval.x86_64.pallets__flask-4992:latest"
    assert derive.image_name(row, "reg.example/{id}:{version}") == "reg.example/pallets__flask-4992:2.3"
    assert derive.image_name(row, lambda r: r["repo"]) == "pallets/flask"
    with pytest.raises(derive.DeriveError, match="cannot be filled"):
        derive.image_name(row, "{nope}")
    with pytest.raises(derive.DeriveError, match="image_naming must be"):
        derive.image_name(row, "remote")


def test_rows_without_a_repository_need_docker_and_say_so(tmp_path):
    env = aem_envs.make("aem/SWERepair-v0", runtime="bwrap", instances_source=str(DATA / "lite-v5.jsonl"))
    try:
        with pytest.raises(RuntimeUnavailable, match="needs runtime='docker'.*'bundle'"):
            env.reset(options={"instance_id": "pallets__flask-4992"})
    finally:
        env.close()


def test_a_missing_image_is_one_error_at_reset_naming_the_commands(docker_rt):
    from aem_envs.swe.images import ImageMissing

    env = aem_envs.make("aem/SWERepair-v0", runtime="docker",
                        instances_source=str(DATA / "lite-classic.jsonl"), image_naming="harness")
    try:
        with pytest.raises(ImageMissing) as e:
            env.reset(options={"instance_id": "pytest-dev__pytest-11143"})
        msg = str(e.value)
        assert "docker pull swebench/sweb.eval.x86_64.pytest-dev_1776_pytest-11143:latest" in msg
        assert "python -m aem_envs.swe.images build --instances " in msg
        assert "--instance-id pytest-dev__pytest-11143 --repo <a clone of " \
            "https://github.com/pytest-dev/pytest>" in msg
        assert env.unwrapped.sandbox is None  # nothing started: no empty /testbed
    finally:
        env.close()
