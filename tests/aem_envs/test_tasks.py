from __future__ import annotations

import gzip
import json

import pytest

from aem_envs import Manifest, TaskSet, write_manifest
from aem_envs.error import ManifestMismatchError, UnknownTaskError
from aem_envs.tasks import LEGACY_FILE_HASH, check_backends, sha256_file, verify_folder, write_records


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


def test_gz_files_are_identified_by_their_data_not_their_compression(tmp_path):
    """A .gz file's digest is its decompressed content: another zlib build (zlib-ng deflates to other
    bytes), level or gzip header gives the same manifest, and the folder still verifies."""
    rows = [{"instance_id": f"t{i}", "text": "ünïcödé " * i} for i in range(50)]
    write_records(tmp_path / "tasks.jsonl.gz", rows)
    m = write_manifest(tmp_path, "toy", "v1", {"train": [r["instance_id"] for r in rows]})
    data = gzip.decompress((tmp_path / "tasks.jsonl.gz").read_bytes())
    other = gzip.compress(data, compresslevel=1, mtime=1_900_000_000)
    assert other != (tmp_path / "tasks.jsonl.gz").read_bytes()
    (tmp_path / "tasks.jsonl.gz").write_bytes(other)
    assert verify_folder(tmp_path).sha256 == m.sha256
    assert write_manifest(tmp_path, "toy", "v1", m.splits).sha256 == m.sha256


def test_manifests_without_file_hash_are_verified_on_raw_bytes(tmp_path):
    folder = _make_folder(tmp_path)
    raw = json.loads((folder / "manifest.json").read_text())
    legacy = Manifest(**{**Manifest.load(folder / "manifest.json").__dict__, "file_hash": LEGACY_FILE_HASH,
                         "files": {"tasks.jsonl.gz": sha256_file(folder / "tasks.jsonl.gz")}})
    assert "file_hash" not in legacy.content() and raw["file_hash"] == "sha256-data"
    (folder / "manifest.json").write_text(legacy.to_json())
    assert TaskSet(folder).get("t1")["v"] == 1
    data = gzip.decompress((folder / "tasks.jsonl.gz").read_bytes())
    (folder / "tasks.jsonl.gz").write_bytes(gzip.compress(data, mtime=0))  # same data, other bytes
    with pytest.raises(ManifestMismatchError, match="changed: tasks.jsonl.gz"):
        TaskSet(folder)


def test_corrupt_gz_and_unknown_hash_scheme_are_clear_errors(tmp_path):
    folder = _make_folder(tmp_path)
    (folder / "tasks.jsonl.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ManifestMismatchError, match="not a valid gzip file"):
        TaskSet(folder)
    (tmp_path / "b").mkdir()
    folder = _make_folder(tmp_path / "b")
    m = Manifest(**{**Manifest.load(folder / "manifest.json").__dict__, "file_hash": "md5-someday"})
    (folder / "manifest.json").write_text(m.to_json())
    with pytest.raises(ManifestMismatchError, match="unknown file_hash 'md5-someday'.*upgrade"):
        TaskSet(folder)
