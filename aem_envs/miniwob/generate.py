"""Write ``tasks/miniwob/v0``: page seeds per task and split (no browser needed).

    python -m aem_envs.miniwob.generate
"""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path

from aem_envs.miniwob.registration import TASKS
from aem_envs.tasks import tasks_root, write_manifest, write_records

SPLITS = {"train": (0, 200), "dev": (10_000, 50), "test": (20_000, 100)}  # split -> (first seed, count)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(tasks_root() / "miniwob" / "v0"))
    args = ap.parse_args(argv)
    records, splits = [], {s: [] for s in SPLITS}
    for task in TASKS:
        for split, (first, count) in SPLITS.items():
            for seed in range(first, first + count):
                iid = f"{task}-{seed}"
                records.append({"instance_id": iid, "task_type": task, "task": task, "seed": seed,
                                "split": split})
                splits[split].append(iid)
    folder = Path(args.out)
    write_records(folder / "tasks.jsonl.gz", records)
    m = write_manifest(folder, env="miniwob", version="v0", splits=splits,
                       backends={"miniwob": metadata.version("miniwob")},
                       extra={"tasks": list(TASKS), "reward": "raw (not time-decayed); episode timer off"})
    print(f"wrote {folder}: " + ", ".join(f"{k} {len(v)}" for k, v in m.splits.items()))


if __name__ == "__main__":
    main()
