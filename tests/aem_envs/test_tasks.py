from __future__ import annotations

import gzip
import json

import pytest

from aem_envs import Manifest, TaskSet, write_manifest
from aem_envs.error import ManifestMismatchError, UnknownTaskError
from aem_envs.tasks import check_backends, verify_folder


def _make_folder(tmp_path, n=5):
    rows = [{"instance_id": f"t{i}", "task_type": "x", "v": i} for i in range(n)]
    with gzip.open(tmp_path / "tasks.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    write_manifest(tmp_path, "toy", "v1", {"train": ["t0", "t1", "t2"], "test": ["t3", "t4"]},
                   backends={"gymnasium": "0.0.0-test"})
    return tmp_path


def test_taskset_reads_splits_in_manifest_order_and_records(tmp_path):
    ts = TaskSet(_make_folder(tmp_path))
    assert ts.splits() == ["train", "test"]
    assert ts.ids("test") == ["t3", "t4"]
    assert ts.get("t4")["v"] == 4 and ts.split_of("t1") == "train"
    with pytest.raises(UnknownTaskError, match="no split 'dev'"):
        ts.ids("dev")
    with pytest.raises(UnknownTaskError, match="no task 'zz'"):
        ts.get("zz")


def test_changed_data_file_is_refused_with_the_file_named(tmp_path):
    folder = _make_folder(tmp_path)
    TaskSet(folder)
    with gzip.open(folder / "tasks.jsonl.gz", "at") as f:
        f.write(json.dumps({"instance_id": "t9"}) + "\n")
    with pytest.raises(ManifestMismatchError, match=r"changed: tasks\.jsonl\.gz"):
        TaskSet(folder)


def test_hand_edited_manifest_is_refused(tmp_path):
    folder = _make_folder(tmp_path)
    raw = json.loads((folder / "manifest.json").read_text())
    raw["splits"]["train"].append("t4")
    (folder / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestMismatchError, match="edited by hand"):
        verify_folder(folder)


def test_missing_file_and_missing_manifest(tmp_path):
    folder = _make_folder(tmp_path)
    (folder / "tasks.jsonl.gz").unlink()
    with pytest.raises(ManifestMismatchError, match="missing"):
        TaskSet(folder)
    with pytest.raises(ManifestMismatchError, match="no task manifest"):
        TaskSet(tmp_path / "nowhere")


def test_manifest_hash_is_stable_and_content_sensitive(tmp_path):
    folder = _make_folder(tmp_path)
    m = Manifest.load(folder / "manifest.json")
    assert m.sha256 == m.compute_sha256()
    again = write_manifest(folder, "toy", "v1", {"train": ["t0", "t1", "t2"], "test": ["t3", "t4"]},
                           backends={"gymnasium": "0.0.0-test"})
    assert again.sha256 == m.sha256
    other = write_manifest(folder, "toy", "v1", {"train": ["t0", "t1"], "test": ["t3", "t4"]})
    assert other.sha256 != m.sha256


def test_duplicate_ids_rejected(tmp_path):
    with pytest.raises(ValueError, match="twice"):
        write_manifest(tmp_path, "toy", "v1", {"train": ["a", "a"]}, files=[])


def test_backend_version_mismatch(tmp_path):
    m = Manifest.load(_make_folder(tmp_path) / "manifest.json")
    with pytest.raises(ManifestMismatchError, match="gymnasium==0.0.0-test"):
        check_backends(m)
    assert check_backends(m, strict=False)["gymnasium"] is not None


def test_records_are_parsed_once_per_process(tmp_path, monkeypatch):
    folder = _make_folder(tmp_path)
    assert TaskSet(folder).get("t1")["v"] == 1
    calls = []
    monkeypatch.setattr("aem_envs.tasks.gzip.open", lambda *a, **k: calls.append(a))
    again = TaskSet(folder)  # a second env over the same data: no re-parse
    assert again.get("t2")["v"] == 2 and calls == []
