"""Write the example's tasks and manifest: ``python -m aem_example.generate``. Deterministic."""

from __future__ import annotations

import gzip
import json
import random

from aem_envs import write_manifest
from aem_example.env import TASKS_DIR

ROOMS = ["hall", "kitchen", "library", "cellar", "garden", "attic", "study", "pantry"]
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}


def make_task(i: int) -> dict:
    rng = random.Random(i)
    rooms = rng.sample(ROOMS, rng.randint(3, 6))
    links: dict[str, dict[str, str]] = {r: {} for r in rooms}
    for a, b in zip(rooms, rooms[1:], strict=False):  # a chain keeps every room reachable
        d = rng.choice([d for d in OPPOSITE if d not in links[a] and OPPOSITE[d] not in links[b]])
        links[a][d], links[b][OPPOSITE[d]] = b, a
    return {"instance_id": f"treasure-{i:03d}", "task_type": "find_treasure", "rooms": links,
            "start": rooms[0], "key_room": rng.choice(rooms), "chest_room": rng.choice(rooms[1:])}


def main() -> None:
    TASKS_DIR.mkdir(exist_ok=True)
    tasks = [make_task(i) for i in range(40)]
    with open(TASKS_DIR / "tasks.jsonl.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write("".join(json.dumps(t, sort_keys=True) + "\n" for t in tasks).encode())
    ids = [t["instance_id"] for t in tasks]
    write_manifest(TASKS_DIR, env="example-treasure", version="v0",
                   splits={"train": ids[:30], "test": ids[30:]})


if __name__ == "__main__":
    main()
