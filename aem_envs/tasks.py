"""Tasks as data: split manifests with content hashes, and the ``TaskProvider`` protocol envs load from.

Layout on disk (one folder per env family and version)::

    tasks/<env>/<version>/manifest.json     ids per split, sha256 of every data file, backend versions
    tasks/<env>/<version>/<data files>      e.g. tasks.jsonl.gz, a catalog, git bundles

``manifest.json`` is written by the env's generator (``write_manifest``) and verified whenever an env
loads its tasks (``TaskSet(...)``, hence at ``gymnasium.make`` time): a task file edited by hand, a
half-finished regeneration or a different upstream backend version is refused with a message that says
which file changed, instead of silently giving other numbers (task data that drifted unnoticed between
releases is a known reproducibility complaint about ALFWorld and WebShop).

A manifest identifies data, not the machine that wrote it: a file's digest is the sha256 of its bytes,
except that a ``.gz`` file is hashed decompressed (``data_sha256``), because compressed bytes depend on the
zlib build (zlib-ng, which e.g. Fedora ships as its zlib, deflates the same data to other bytes) and on
gzip header fields. Manifests written before this (no ``file_hash`` key) are still verified on raw bytes.
Generators write records with ``write_records`` (sorted keys, gzip mtime 0), so a regeneration on any day
is identical.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from aem_envs.error import ManifestMismatchError, UnknownTaskError

MANIFEST_NAME = "manifest.json"
_HASH_CHUNK = 1 << 20
# How the digests in ``Manifest.files`` are computed (see the module docstring).
LEGACY_FILE_HASH = "sha256"  # the file's bytes, .gz included: manifests without a file_hash key
FILE_HASH = "sha256-data"  # the file's bytes, a .gz file's decompressed bytes


def tasks_root() -> Path:
    """Where task data lives: ``$AEM_TASKS_DIR``, else the package ``aem_envs.taskdata``.

    That package is the repository's ``tasks/`` folder: mapped there by an editable install, copied into
    site-packages by a wheel. A plain checkout on ``sys.path`` without an install falls back to ``tasks/``.
    """
    env = os.environ.get("AEM_TASKS_DIR")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("aem_envs.taskdata")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "tasks"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def data_sha256(path: Path, scheme: str = FILE_HASH) -> str:
    """The digest of a task file under ``scheme`` (a ``.gz`` file decompressed, unless legacy).

    Raises ``ManifestMismatchError`` for an unknown scheme and for a ``.gz`` file that is not valid gzip.
    """
    if scheme == LEGACY_FILE_HASH:
        return sha256_file(path)
    if scheme != FILE_HASH:
        raise ManifestMismatchError(f"unknown file_hash {scheme!r} in a task manifest: upgrade aem-gym")
    if Path(path).suffix != ".gz":
        return sha256_file(path)
    h = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise ManifestMismatchError(f"task file {path} is not a valid gzip file ({e}); restore it") from None
    return h.hexdigest()


def write_records(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    """Write JSONL.gz records the same way on every run and day (sorted keys, no gzip timestamp)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as f:
        for r in records:
            f.write((json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-able object in canonical form (sorted keys, no whitespace)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """What a task folder promises: ordered ids per split, the hash of every data file, backend versions."""

    env: str
    version: str
    splits: dict[str, list[str]]
    files: dict[str, str]
    backends: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    file_hash: str = LEGACY_FILE_HASH  # how ``files`` was hashed (``data_sha256``)

    def content(self) -> dict[str, Any]:
        out = {"env": self.env, "version": self.version, "splits": self.splits, "files": self.files,
               "backends": self.backends, "extra": self.extra}
        if self.file_hash != LEGACY_FILE_HASH:  # absent from legacy manifests, whose sha256 must not change
            out["file_hash"] = self.file_hash
        return out

    def compute_sha256(self) -> str:
        return sha256_json(self.content())

    def to_json(self) -> str:
        return json.dumps({**self.content(), "sha256": self.compute_sha256()}, indent=1) + "\n"

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ManifestMismatchError(f"no task manifest at {path}") from None
        except json.JSONDecodeError as e:
            raise ManifestMismatchError(f"task manifest {path} is not valid JSON: {e}") from None
        missing = {"env", "version", "splits", "files", "sha256"} - raw.keys()
        if missing:
            raise ManifestMismatchError(f"task manifest {path} lacks keys {sorted(missing)}")
        return cls(env=raw["env"], version=raw["version"],
                   splits={k: list(v) for k, v in raw["splits"].items()},
                   files=dict(raw["files"]), backends=dict(raw.get("backends", {})),
                   extra=dict(raw.get("extra", {})), sha256=raw["sha256"],
                   file_hash=str(raw.get("file_hash", LEGACY_FILE_HASH)))


def write_manifest(folder: Path, env: str, version: str, splits: Mapping[str, Sequence[str]],
                   files: Iterable[str] | None = None, backends: Mapping[str, str] | None = None,
                   extra: Mapping[str, Any] | None = None) -> Manifest:
    """Hash the data files in ``folder`` (all but the manifest, unless ``files`` names them) and write it."""
    folder = Path(folder)
    names = sorted(files) if files is not None else sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
    for split, ids in splits.items():
        if len(set(ids)) != len(ids):
            raise ValueError(f"split {split!r} lists an id twice")
    m = Manifest(env=env, version=version, splits={k: list(v) for k, v in splits.items()},
                 files={n: data_sha256(folder / n) for n in names}, backends=dict(backends or {}),
                 extra=dict(extra or {}), file_hash=FILE_HASH)
    m = Manifest(**{**m.__dict__, "sha256": m.compute_sha256()})
    (folder / MANIFEST_NAME).write_text(m.to_json(), encoding="utf-8")
    return m


_verified: dict[tuple, str] = {}
_verified_lock = threading.Lock()
# Parsed record files shared by every TaskSet of the process, keyed by (file, manifest hash): envs made per
# episode (rollout workers, the checker) must not re-parse thousands of records each time. Records are
# treated as read-only by the envs.
_records_cache: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
_records_lock = threading.Lock()


def verify_folder(folder: Path) -> Manifest:
    """Load ``folder``'s manifest and check it against the files; raise ``ManifestMismatchError`` if not.

    Results are cached per (path, size, mtime) of every file, so making many envs costs one hash pass.
    """
    folder = Path(folder)
    m = Manifest.load(folder / MANIFEST_NAME)
    if m.compute_sha256() != m.sha256:
        raise ManifestMismatchError(
            f"{folder / MANIFEST_NAME} was edited by hand: its sha256 field does not match its content. "
            "Regenerate it with the env's generator instead of editing it.")
    stats = []
    for name in m.files:
        p = folder / name
        if not p.is_file():
            raise ManifestMismatchError(f"task file {p} listed in the manifest is missing")
        st = p.stat()
        stats.append((name, st.st_size, st.st_mtime_ns))
    key = (str(folder.resolve()), m.sha256, tuple(stats))
    with _verified_lock:
        if key in _verified:
            return m
    bad = [n for n, digest in m.files.items() if data_sha256(folder / n, m.file_hash) != digest]
    if bad:
        raise ManifestMismatchError(
            f"task data in {folder} does not match its manifest (changed: {', '.join(bad)}). Restore the "
            f"files (e.g. `git checkout -- {folder}`) or regenerate them with the env's generator, which "
            "rewrites the manifest; results on changed data are not comparable with published ones.")
    with _verified_lock:
        _verified[key] = m.sha256
    return m


def check_backends(manifest: Manifest, strict: bool = True) -> dict[str, str | None]:
    """Installed versions of the manifest's upstream backends; a differing version raises when ``strict``."""
    found: dict[str, str | None] = {}
    for dist, wanted in manifest.backends.items():
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            have = None
        found[dist] = have
        if strict and have is not None and have != wanted:
            raise ManifestMismatchError(
                f"tasks {manifest.env}/{manifest.version} were made with {dist}=={wanted} but {dist}=={have} "
                f"is installed; install `{dist}=={wanted}` or regenerate the tasks")
    return found


@runtime_checkable
class TaskProvider(Protocol):
    """Where an env gets its tasks from: named splits, a stable ordered id list, one record per id."""

    name: str
    version: str

    def splits(self) -> list[str]: ...

    def ids(self, split: str) -> list[str]: ...

    def get(self, instance_id: str) -> Mapping[str, Any]: ...


class TaskSet:
    """A verified task folder: ``TaskSet.open("household", "v0")`` or ``TaskSet(path)``.

    Records come from a JSONL file (optionally gzipped) of objects with an ``instance_id`` key, read lazily.
    Envs whose tasks are not one-record-per-line (a catalog, git bundles) use ``path()`` for their files.
    """

    def __init__(self, folder: Path | str, records_file: str | None = "tasks.jsonl.gz", verify: bool = True):
        self.folder = Path(folder)
        self.manifest = verify_folder(self.folder) if verify else Manifest.load(self.folder / MANIFEST_NAME)
        self.name, self.version = self.manifest.env, self.manifest.version
        self._records_file = records_file
        self._records: dict[str, dict[str, Any]] | None = None

    @classmethod
    def open(cls, env: str, version: str, **kw: Any) -> TaskSet:
        return cls(tasks_root() / env / version, **kw)

    def splits(self) -> list[str]:
        return list(self.manifest.splits)

    def ids(self, split: str) -> list[str]:
        try:
            return list(self.manifest.splits[split])
        except KeyError:
            raise UnknownTaskError(
                f"task set {self.name}/{self.version} has no split {split!r}; "
                f"splits: {self.splits()}") from None

    def split_of(self, instance_id: str) -> str:
        for split, ids in self.manifest.splits.items():
            if instance_id in ids:
                return split
        raise UnknownTaskError(f"{instance_id!r} is in no split of {self.name}/{self.version}")

    def path(self, name: str) -> Path:
        return self.folder / name

    def get(self, instance_id: str) -> Mapping[str, Any]:
        if self._records is None:
            self._records = self._load_records()
        try:
            return self._records[instance_id]
        except KeyError:
            raise UnknownTaskError(f"no task {instance_id!r} in {self.name}/{self.version}") from None

    def _load_records(self) -> dict[str, dict[str, Any]]:
        if self._records_file is None:
            raise UnknownTaskError(f"task set {self.name}/{self.version} has no record file")
        p = self.folder / self._records_file
        key = (str(p.resolve()), self.manifest.sha256)
        with _records_lock:
            cached = _records_cache.get(key)
            if cached is None:
                opener = gzip.open if p.suffix == ".gz" else open
                with opener(p, "rt", encoding="utf-8") as f:
                    rows = (json.loads(line) for line in f if line.strip())
                    cached = _records_cache[key] = {r["instance_id"]: r for r in rows}
        return cached
