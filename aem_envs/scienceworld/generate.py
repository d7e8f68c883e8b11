"""Write ``tasks/scienceworld/v0``: every variation of the 30 tasks, split as upstream does.

    python -m aem_envs.scienceworld.generate   # needs scienceworld==1.2.3 and Java; ~30 s

Byte-identical on every run; the manifest pins the upstream version the splits were read from.
"""

from __future__ import annotations

import argparse
from importlib import metadata

from aem_envs._upstream import jvm_upstream
from aem_envs.scienceworld.env import ScienceWorldEnv
from aem_envs.tasks import tasks_root, write_manifest, write_records

UPSTREAM = "scienceworld"
TASKS_ENV, TASKS_VERSION = ScienceWorldEnv.tasks_env, ScienceWorldEnv.tasks_version


def task_catalog() -> list[dict[str, str]]:
    """Upstream's task list (name, id, topic, title) in its own order."""
    from scienceworld.constants import TASKS

    return [{"task_name": t["task_name"], "task_id": t["task_id"], "topic": t["topic"], "title": t["task"]}
            for t in TASKS]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(tasks_root() / TASKS_ENV / TASKS_VERSION))
    args = ap.parse_args(argv)
    from tqdm import tqdm

    sw = jvm_upstream("ScienceWorld", "scienceworld.scienceworld").ScienceWorldEnv("", envStepLimit=100)
    records, splits = [], {"train": [], "dev": [], "test": []}
    try:
        for t in tqdm(task_catalog(), desc="scienceworld tasks"):
            sw.load(t["task_name"], 0, "")
            for split, variations in (("train", sw.get_variations_train()), ("dev", sw.get_variations_dev()),
                                      ("test", sw.get_variations_test())):
                for v in sorted(int(x) for x in variations):
                    iid = f"{t['task_name']}-{v}"
                    records.append({"instance_id": iid, "task_type": t["task_name"], "variation": v,
                                    "split": split, **t})
                    splits[split].append(iid)
    finally:
        sw.close()
    from pathlib import Path

    folder = Path(args.out)
    write_records(folder / "tasks.jsonl.gz", records)
    m = write_manifest(folder, env=TASKS_ENV, version=TASKS_VERSION, splits=splits,
                       backends={UPSTREAM: metadata.version(UPSTREAM)},
                       extra={"tasks": len(task_catalog()),
                              "source": "ScienceWorld getVariationsTrain/Dev/Test"})
    print(f"wrote {folder}: " + ", ".join(f"{k} {len(v)}" for k, v in m.splits.items()))


if __name__ == "__main__":
    main()
