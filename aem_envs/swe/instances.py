"""Where SWE instances come from (``instances_source=`` of ``aem/SWERepair-v0``), each a ``TaskProvider``:

* ``None`` / a ``SHIPPED`` name: a task set shipped in tasks/, verified against its manifest: ``"swe-real"``
  (the default: real projects' bugs, docs/swe-real.md) or ``"swe-mini"`` (the fast smoke set);
* a task folder with a ``manifest.json`` (``python -m aem_envs.swe.build`` / ``aem swe add`` write them);
* a local file: ``.jsonl``, ``.json`` (a list, or a dict keyed by instance id) or ``.parquet``;
* a local folder of such files named by split (``test.parquet``, ``dev.jsonl``, as ``swebench dataset
  build`` writes them), or a ``datasets`` ``save_to_disk`` folder;
* a Hugging Face dataset id (``SWE-bench/SWE-bench_Verified``, ``SWE-bench/SWE-bench_Lite``,
  ``princeton-nlp/SWE-bench_Lite``, SWE-Gym's, ...) or one of swebench's aliases (``lite``, ``verified``),
  read from the local caches only, never downloaded: the ``datasets`` cache of an earlier
  ``load_dataset``, else a ``huggingface-cli download --repo-type dataset`` snapshot.

Rows of every vintage are checked and completed by ``rows.prepare`` (docs/swe-rows.md). A source that
looks like a path but does not exist is reported as a missing path, never as a missing HF dataset.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aem_envs.error import UnknownTaskError
from aem_envs.swe import rows as rowcheck
from aem_envs.tasks import MANIFEST_NAME, TaskSet, tasks_root

# Task sets shipped in tasks/: name -> version. "swe-real" (real projects' bugs, docs/swe-real.md) is the
# default; "swe-mini" (32 synthetic repos) is the fast smoke set.
SHIPPED = {"swe-real": "v0", "swe-mini": "v0"}
DEFAULT = "swe-real"
REQUIRED = rowcheck.REQUIRED
ROW_SUFFIXES = (".jsonl", ".json", ".parquet")
# swebench's own aliases, and the datasets' two homes on the Hub (renamed from princeton-nlp to SWE-bench).
HF_ALIASES = {"swe-bench": "SWE-bench/SWE-bench", "swebench": "SWE-bench/SWE-bench",
              "full": "SWE-bench/SWE-bench", "lite": "SWE-bench/SWE-bench_Lite",
              "swe-bench-lite": "SWE-bench/SWE-bench_Lite", "verified": "SWE-bench/SWE-bench_Verified",
              "swe-bench-verified": "SWE-bench/SWE-bench_Verified"}
_ORGS = ("SWE-bench/", "princeton-nlp/")
_SAVED = ("dataset_dict.json", "dataset_info.json", "state.json")  # datasets' save_to_disk metadata
_SHARD = re.compile(r"^(.+?)-\d{5}-of-\d{5}$")


def as_list(value: Any) -> list[str]:
    """FAIL_TO_PASS / PASS_TO_PASS arrive as JSON strings (HF) or lists (parquet)."""
    return list(json.loads(value)) if isinstance(value, str) else list(value or [])


class InstanceList:
    """A ``TaskProvider`` over rows in memory, checked and completed by ``rows.prepare``. ``splits`` maps a
    split name to its ids (default: every row in one split named ``split``)."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], name: str = "swe-local", split: str = "test",
                 folder: Path | None = None, splits: Mapping[str, Sequence[str]] | None = None,
                 image_naming: str | Callable | None = None, specs: Any = None, prepared: bool = False):
        if not prepared:
            rows = rowcheck.prepare(rows, source=name, folder=folder, image_naming=image_naming, specs=specs)
        self.name, self.version = name, "local"
        self._rows = {r["instance_id"]: dict(r) for r in rows}
        self._splits = {k: list(v) for k, v in (splits or {split: list(self._rows)}).items()}
        self.folder = folder

    def splits(self) -> list[str]:
        return list(self._splits)

    def ids(self, split: str) -> list[str]:
        if split not in self._splits:
            raise UnknownTaskError(f"{self.name} has no split {split!r}; splits: {self.splits()}")
        return list(self._splits[split])

    def get(self, instance_id: str) -> Mapping[str, Any]:
        try:
            return self._rows[instance_id]
        except KeyError:
            raise UnknownTaskError(f"no instance {instance_id!r} in {self.name}") from None

    def path(self, name: str) -> Path:
        if self.folder is None:
            raise UnknownTaskError(f"{self.name} has no data folder for {name!r}")
        return self.folder / name


def load_bundled(name: str = "swe-mini") -> TaskSet:
    """A task set shipped in tasks/ (``SHIPPED``), verified against its manifest."""
    return TaskSet(tasks_root() / name / SHIPPED[name])


# -- files and folders -------------------------------------------------------------------------------------
def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of one ``.jsonl`` / ``.json`` / ``.parquet`` file (an error naming the file if unreadable)."""
    try:
        if path.suffix == ".jsonl":
            out = []
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise ValueError(f"line {n} is not JSON: {e}") from None
            return out
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and "instance_id" not in data:
                return [{"instance_id": k, **v} if isinstance(v, dict) else v for k, v in data.items()]
            return data if isinstance(data, list) else [data]
        import pandas as pd

        return pd.read_parquet(path).to_dict("records")
    except (OSError, ValueError, UnicodeError, ImportError) as e:
        raise rowcheck.InvalidInstances(f"cannot read SWE rows from {path}: {e}") from None


def split_name(path: Path) -> str:
    """The split a file holds: its stem, without an HF shard suffix (``test-00000-of-00001`` -> ``test``)."""
    m = _SHARD.match(path.stem)
    return m.group(1) if m else path.stem


def load_file(path: str | Path, split: str = "test", **kw: Any) -> InstanceList:
    """A local SWE-bench file (``.jsonl``, ``.json`` or ``.parquet``)."""
    p = Path(path).expanduser()
    if p.suffix not in ROW_SUFFIXES:
        raise rowcheck.InvalidInstances(f"{p}: SWE rows must be in a .jsonl, .json or .parquet file")
    return InstanceList(read_rows(p), name=p.stem, split=split, folder=p.parent, **kw)


def load_task_folder(folder: Path, **kw: Any) -> InstanceList:
    """A task folder with a manifest (ours: bundles + tasks.jsonl.gz), every row checked."""
    ts = TaskSet(folder)
    ids = [i for s in ts.splits() for i in ts.ids(s)]
    rows = [dict(ts.get(i)) for i in dict.fromkeys(ids)]
    return InstanceList(rows, name=f"{ts.name}/{ts.version}", folder=folder,
                        splits={s: ts.ids(s) for s in ts.splits()}, **kw)


def load_dir(folder: Path, **kw: Any) -> InstanceList:
    """A folder of split files (``<split>.parquet|jsonl|json``) or a ``datasets.save_to_disk`` folder."""
    if (folder / MANIFEST_NAME).is_file():
        return load_task_folder(folder, **kw)
    if any((folder / n).is_file() for n in _SAVED):
        from datasets import DatasetDict, load_from_disk

        ds = load_from_disk(str(folder))
        splits = ds if isinstance(ds, DatasetDict) else {"test": ds}
        return _from_splits({k: [dict(r) for r in v] for k, v in splits.items()}, folder.name, folder, **kw)
    files = sorted(p for p in folder.iterdir() if p.suffix in ROW_SUFFIXES and p.is_file())
    if files:
        by_split: dict[str, list[dict]] = {}
        for p in files:
            by_split.setdefault(split_name(p), []).extend(read_rows(p))
        return _from_splits(by_split, folder.name, folder, **kw)
    raise rowcheck.InvalidInstances(
        f"folder {folder} holds no SWE rows: expected a manifest.json (a task folder), files named by split "
        "(test.jsonl, test.parquet, ...) or a datasets save_to_disk folder")


def _from_splits(by_split: Mapping[str, list[dict]], name: str, folder: Path | None,
                 **kw: Any) -> InstanceList:
    allrows = [r for rs in by_split.values() for r in rs]
    splits = {s: [r.get("instance_id") if isinstance(r, dict) else None for r in rs]
              for s, rs in by_split.items()}
    return InstanceList(allrows, name=name, folder=folder, splits=splits, **kw)


# -- Hugging Face ------------------------------------------------------------------------------------------
def _candidates(name: str) -> list[str]:
    name = HF_ALIASES.get(name.lower(), name)
    for org in _ORGS:
        if name.startswith(org):
            other = next(o for o in _ORGS if o != org)
            return [name, other + name[len(org):]]
    return [name]


def _hf_prepared(name: str) -> dict[str, list[dict]] | None:
    """All splits of ``name`` from the ``datasets`` cache (an earlier online ``load_dataset``)."""
    try:
        from datasets import load_dataset

        ds = load_dataset(name)
    except Exception:
        return None
    return {k: [dict(r) for r in v] for k, v in ds.items()}


def _hf_snapshot(name: str) -> dict[str, list[dict]] | None:
    """All splits of ``name`` from a Hub snapshot (``huggingface-cli download --repo-type dataset``)."""
    try:
        from huggingface_hub import snapshot_download

        root = Path(snapshot_download(repo_id=name, repo_type="dataset", local_files_only=True))
    except Exception:
        return None
    by_split: dict[str, list[dict]] = {}
    for p in sorted(root.rglob("*")):
        if p.suffix in ROW_SUFFIXES and p.is_file() and p.name not in _SAVED:
            split = split_name(p) if p.parent == root or p.parent.name == "data" else p.parent.name
            by_split.setdefault(split, []).extend(read_rows(p))
    return by_split or None


def load_hf(name: str = "SWE-bench/SWE-bench_Verified", **kw: Any) -> InstanceList:
    """A Hugging Face dataset from the local caches (offline mode is forced: nothing is downloaded)."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tried = _candidates(name)
    for cand in tried:
        by_split = _hf_prepared(cand) or _hf_snapshot(cand)
        if by_split:
            return _from_splits(by_split, cand.split("/")[-1], None, **kw)
    raise UnknownTaskError(
        f"{name!r} is not a local path, and the Hugging Face dataset {' / '.join(map(repr, tried))} is not "
        "in the local cache (nothing is downloaded here). Download it where the Hub is reachable, e.g. "
        f"`huggingface-cli download --repo-type dataset {tried[0]}`, or pass a .jsonl/.json/.parquet file "
        "or a folder")


# -- the entry point ---------------------------------------------------------------------------------------
def looks_like_path(source: str) -> bool:
    """A source meant as a local path: a row-file suffix, an explicit path prefix, or a first component
    that exists here (an HF id is ``owner/name`` with neither)."""
    p = Path(source).expanduser()
    return (p.suffix in (*ROW_SUFFIXES, ".gz") or source.startswith(("/", ".", "~")) or source.count("/") > 1
            or os.sep != "/" and os.sep in source or (len(p.parts) > 1 and Path(p.parts[0]).is_dir()))


def _missing_path(given: str, p: Path) -> str:
    p = p.absolute()
    parent = next((a for a in p.parents if a.is_dir()), None)
    near = ""
    if parent is not None and parent != p.parent:
        near = f"; {parent} exists, {p.relative_to(parent).parts[0]!r} in it does not"
    elif parent is not None:
        names = sorted(x.name for x in parent.iterdir() if x.suffix in ROW_SUFFIXES or x.is_dir())[:8]
        near = f"; {parent} holds {names}" if names else f"; {parent} holds no row files"
    return f"instances_source {given!r}: no such file or folder ({p}){near}"


def load(source: str | Path | None, image_naming: str | Callable | None = None, specs: Any = None) -> Any:
    """Any source of the module docstring, as a ``TaskProvider``. ``image_naming`` and ``specs`` go to
    ``rows.prepare`` (how images are named; specs for repos swebench 4.1.0 does not know)."""
    kw = {"image_naming": image_naming, "specs": specs}
    source = DEFAULT if source is None else source
    if source in SHIPPED:
        return load_bundled(str(source))
    p = Path(source).expanduser()
    if p.is_dir():
        return load_dir(p, **kw)
    if p.is_file():
        return load_file(p, **kw)
    if looks_like_path(str(source)):
        raise FileNotFoundError(_missing_path(str(source), p))
    return load_hf(str(source), **kw)
