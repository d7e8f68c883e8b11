"""Where SWE instances come from: our bundled set, a local SWE-bench JSONL/JSON/parquet, or a cached HF
dataset. Every loader returns a ``TaskProvider`` (splits, ids, rows in SWE-bench's schema)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aem_envs.error import UnknownTaskError
from aem_envs.tasks import TaskSet, tasks_root

BUNDLED = ("swe-mini", "v0")
# Task sets shipped in tasks/: name -> version. "swe-real" (real projects' bugs, docs/swe-real.md) is the
# default; "swe-mini" (32 synthetic repos) is the fast smoke set.
SHIPPED = {"swe-real": "v0", "swe-mini": "v0"}
DEFAULT = "swe-real"
REQUIRED = ("instance_id", "repo", "base_commit", "patch", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS")


def as_list(value: Any) -> list[str]:
    """FAIL_TO_PASS / PASS_TO_PASS arrive as JSON strings (HF) or lists (parquet)."""
    return list(json.loads(value)) if isinstance(value, str) else list(value or [])


class InstanceList:
    """A ``TaskProvider`` over rows already in memory (one split)."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], name: str = "swe-local", split: str = "test",
                 folder: Path | None = None):
        for r in rows:
            missing = [k for k in REQUIRED if k not in r]
            if missing:
                raise ValueError(f"instance {r.get('instance_id', '?')!r} lacks SWE-bench fields {missing}")
        self.name, self.version, self._split = name, "local", split
        self._rows = {r["instance_id"]: dict(r) for r in rows}
        self.folder = folder

    def splits(self) -> list[str]:
        return [self._split]

    def ids(self, split: str) -> list[str]:
        if split != self._split:
            raise UnknownTaskError(f"{self.name} has only split {self._split!r}")
        return list(self._rows)

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


def load_file(path: str | Path, split: str = "test") -> InstanceList:
    """A local SWE-bench / SWE-bench-Verified file: ``.jsonl``, ``.json`` (list or dict by id) or ``.parquet``."""
    p = Path(path)
    if p.suffix == ".jsonl":
        rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif p.suffix == ".json":
        data = json.loads(p.read_text(encoding="utf-8"))
        rows = list(data.values()) if isinstance(data, dict) else list(data)
    elif p.suffix == ".parquet":
        import pandas as pd

        rows = pd.read_parquet(p).to_dict("records")
    else:
        raise ValueError(f"{p}: expected .jsonl, .json or .parquet")
    return InstanceList(rows, name=p.stem, split=split, folder=p.parent)


def load_hf(name: str = "SWE-bench/SWE-bench_Verified", split: str = "test") -> InstanceList:
    """An HF dataset the user already has cached (never downloads: offline mode is forced)."""
    import os

    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from datasets import load_dataset

        ds = load_dataset(name, split=split)
    except Exception as e:
        raise UnknownTaskError(f"HF dataset {name!r} ({split}) is not in the local cache: {e}") from None
    return InstanceList([dict(r) for r in ds], name=name.split("/")[-1], split=split)


def load(source: str | Path | None) -> Any:
    """``None`` → ``DEFAULT``; a ``SHIPPED`` name → that task set; an existing file → ``load_file``; else an HF
    dataset id."""
    source = DEFAULT if source is None else source
    if source in SHIPPED:
        return load_bundled(str(source))
    if Path(source).exists():
        return load_file(source)
    return load_hf(str(source))
