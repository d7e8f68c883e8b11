"""Procedural household tasks, and the split writer: ``python -m aem_envs.household.generate``.

A *scene* (ALFRED-style floor-plan number) fixes the room kind, its receptacles, their ids and poses;
``make_task(seed, split)`` then places objects and picks a goal with a ``random.Random(seed)``, so the same
seed always gives the same task. Splits:

* ``train`` / ``valid_seen``: scenes outside ``UNSEEN_SCENES`` and goal combinations (task type, object
  class, receptacle or lamp class) in the "seen" hash bucket; valid_seen differs by seed only (new object
  placements in known rooms), as in ALFWorld.
* ``valid_unseen``: held-out scenes and goal combinations from the other bucket: layouts and
  object/receptacle combinations that never occur in train.

Per-type counts mirror ALFWorld's official splits (``SPLIT_SIZES``). Output: ``tasks/household/v0/``
(gzip written with mtime 0, so regeneration is byte-identical) plus a hashed manifest.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
from functools import lru_cache
from pathlib import Path
from typing import Any

from aem_envs.household.constants import (
    CAN_CONTAIN,
    CLEANABLE,
    COOLABLE,
    GOAL_TEMPLATES,
    HEATABLE,
    LAMP_RECEPTACLES,
    NOT_PICKUPABLE,
    OPENABLE,
    ROOM_SCENES,
    ROOMS,
    SPLIT_SIZES,
    TASK_TYPES,
    TOGGLEABLE,
    UNSEEN_SCENES,
)

VERSION = "v0"
ENV_NAME = "household"
SPLIT_SEED_BASE = {"train": 0, "valid_seen": 1_000_000, "valid_unseen": 2_000_000}
BACKENDS = {"alfworld": "0.4.2", "textworld": "1.7.0"}
_ROOMS_FOR = {
    "pick_heat_then_place_in_recep": ("kitchen",),
    "pick_cool_then_place_in_recep": ("kitchen",),
    "pick_clean_then_place_in_recep": ("kitchen", "bathroom"),
    "look_at_obj_in_light": ("livingroom", "bedroom"),
}
_STATE_OF = {"pick_heat_then_place_in_recep": (HEATABLE, "Microwave"),
             "pick_cool_then_place_in_recep": (COOLABLE, "Fridge"),
             "pick_clean_then_place_in_recep": (CLEANABLE, "SinkBasin")}


def _coord(rng: random.Random) -> str:
    v = rng.uniform(-4.0, 4.0)
    return f"{'+' if v >= 0 else '-'}{abs(v):05.2f}"


def _loc(rng: random.Random, used: set[str]) -> str:
    while True:
        loc = (f"loc|{rng.randint(-12, 12)}|{rng.randint(-12, 12)}|{rng.randint(0, 3)}"
               f"|{rng.choice((0, 30, 45, 60))}")
        if loc not in used:
            used.add(loc)
            return loc


@lru_cache(maxsize=256)
def make_scene(scene: int) -> dict[str, Any]:
    """The fixed layout of floor plan ``scene``: receptacles with ids, poses and doors, and the start pose."""
    room = next((r for r, nums in ROOM_SCENES.items() if scene in nums), None)
    if room is None:
        known = ", ".join(f"{min(v)}-{max(v)}" for v in ROOM_SCENES.values())
        raise ValueError(f"no floor plan {scene}; known: {known}")
    rng = random.Random(scene * 7919 + 17)
    used_locs: set[str] = set()
    start = _loc(rng, used_locs)
    recs: list[dict[str, Any]] = []
    ids: set[str] = set()
    for cls, (lo, hi) in ROOMS[room]["receptacles"].items():
        for _ in range(rng.randint(lo, hi)):
            while True:
                rid = f"{cls}|{_coord(rng)}|{_coord(rng)}|{_coord(rng)}"
                if cls == "SinkBasin":
                    rid = f"Sink|{_coord(rng)}|{_coord(rng)}|{_coord(rng)}|SinkBasin"
                elif cls == "BathtubBasin":
                    rid = f"Bathtub|{_coord(rng)}|{_coord(rng)}|{_coord(rng)}|BathtubBasin"
                if rid not in ids:
                    ids.add(rid)
                    break
            recs.append({"id": rid, "cls": cls, "loc": None, "openable": cls in OPENABLE, "opened": False})
    # Drawers often share their interaction pose with the table above them (quirk Q2 in real games).
    hosts = [r for r in recs if r["cls"] in ("CounterTop", "SideTable", "Desk", "Dresser")]
    for r in recs:
        if r["cls"] == "Drawer" and hosts and rng.random() < 0.3:
            host = rng.choice(hosts)
            host["loc"] = host["loc"] or _loc(rng, used_locs)
            r["loc"] = host["loc"]
    for r in recs:
        r["loc"] = r["loc"] or _loc(rng, used_locs)
    return {"scene": scene, "room": room, "start": start, "receptacles": recs,
            "locations": [start] + sorted({r["loc"] for r in recs})}


def _unseen_combo(combo: tuple[str, ...]) -> bool:
    """About one goal combination in six is reserved for valid_unseen (stable across Python versions)."""
    return hashlib.sha256("/".join(combo).encode()).digest()[0] % 6 == 0


def _scenes_for(split: str, task_type: str) -> list[int]:
    rooms = _ROOMS_FOR.get(task_type, tuple(ROOMS))
    nums = [n for r in rooms for n in ROOM_SCENES[r]]
    unseen = split == "valid_unseen"
    return [n for n in nums if (n in UNSEEN_SCENES) == unseen]


def _goal_candidates(task_type: str, scene: dict[str, Any], unseen: bool) -> list[tuple[str, str, str]]:
    room = ROOMS[scene["room"]]
    rclasses = sorted({r["cls"] for r in scene["receptacles"]})
    out = []
    pickable = [o for o in room["objects"] if o not in NOT_PICKUPABLE]
    if task_type == "look_at_obj_in_light":
        if not any(c in LAMP_RECEPTACLES for c in rclasses):
            return []
        lamps = [o for o in room["objects"] if o in TOGGLEABLE]
        out = [(o, "", lamp) for o in pickable for lamp in lamps
               if any(o in CAN_CONTAIN[c] for c in rclasses)]
    else:
        need, appliance = _STATE_OF.get(task_type, (None, None))
        if appliance and appliance not in rclasses:
            return []
        for o in pickable:
            if need is not None and o not in need:
                continue
            for rc in rclasses:
                if rc == appliance or o not in CAN_CONTAIN[rc]:
                    continue
                # the target objects must start somewhere else than the target class
                if any(o in CAN_CONTAIN[c] for c in rclasses if c != rc):
                    out.append((o, rc, ""))
    return [c for c in out if _unseen_combo((task_type, *c)) == unseen]


def make_task(seed: int, split: str = "train", task_type: str | None = None) -> dict[str, Any]:
    """One task record, a pure function of its arguments."""
    if split not in SPLIT_SEED_BASE:
        raise ValueError(f"unknown split {split!r}; choose one of {sorted(SPLIT_SEED_BASE)}")
    rng = random.Random(seed)
    task_type = task_type or rng.choice(TASK_TYPES)
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task type {task_type!r}; choose one of {TASK_TYPES}")
    scenes = _scenes_for(split, task_type)
    for _ in range(200):
        scene = make_scene(rng.choice(scenes))
        goals = _goal_candidates(task_type, scene, split == "valid_unseen")
        if goals:
            break
    else:  # pragma: no cover - every type has candidates in every split (tested)
        raise RuntimeError(f"no {task_type} goal for split {split}")
    obj, recep, toggle = rng.choice(goals)
    recs = scene["receptacles"]
    room = ROOMS[scene["room"]]
    classes = [c for c in room["objects"] if c != obj and c not in TOGGLEABLE]
    chosen = rng.sample(classes, k=min(len(classes), rng.randint(5, 10)))
    counts = {c: rng.randint(1, 3) for c in chosen}
    counts[obj] = rng.randint(2, 3) if task_type == "pick_two_obj_and_place" else rng.randint(1, 3)
    if toggle:
        counts[toggle] = 1
    objects, ids = [], set()
    for cls, n in counts.items():
        if cls in TOGGLEABLE:
            places = [r for r in recs if r["cls"] in LAMP_RECEPTACLES]
        else:
            places = [r for r in recs
                      if cls in CAN_CONTAIN[r["cls"]] and not (cls == obj and r["cls"] == recep)]
        if not places:
            continue
        for _ in range(n):
            r = rng.choice(places)
            while (oid := f"{cls}|{_coord(rng)}|{_coord(rng)}|{_coord(rng)}") in ids:
                pass
            ids.add(oid)
            # ALFWorld marks target-class objects that start in a fridge as already cool.
            state = ["isCool"] if cls == obj and r["cls"] == "Fridge" else []
            objects.append({"id": oid, "cls": cls, "in": r["id"], "state": state})
    template = rng.choice(GOAL_TEMPLATES[task_type])
    goal_text = template.format(obj=obj.lower(), recep=recep.lower(), toggle=toggle.lower())
    parent = toggle or recep
    return {
        "instance_id": f"{task_type}-{obj}-None-{parent}-{scene['scene']}-t{seed}",
        "task_type": task_type, "split": split, "seed": seed, "scene": scene["scene"], "room": scene["room"],
        "goal": {"obj": obj, "recep": recep, "toggle": toggle}, "goal_text": goal_text,
        "start": scene["start"], "locations": scene["locations"], "receptacles": recs, "objects": objects,
    }


def make_split(split: str) -> list[dict[str, Any]]:
    base = SPLIT_SEED_BASE[split]
    tasks, i = [], 0
    for task_type, n in zip(TASK_TYPES, SPLIT_SIZES[split], strict=True):
        for _ in range(n):
            tasks.append(make_task(base + i, split, task_type))
            i += 1
    return tasks


def write(folder: Path | None = None) -> Path:
    from aem_envs.tasks import tasks_root, write_manifest

    folder = Path(folder) if folder else tasks_root() / ENV_NAME / VERSION
    folder.mkdir(parents=True, exist_ok=True)
    splits, rows = {}, []
    for split in SPLIT_SEED_BASE:
        tasks = make_split(split)
        splits[split] = [t["instance_id"] for t in tasks]
        rows.extend(tasks)
    with open(folder / "tasks.jsonl.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write("".join(json.dumps(t, sort_keys=True, separators=(",", ":")) + "\n" for t in rows).encode())
    write_manifest(folder, env=ENV_NAME, version=VERSION, splits=splits, files=["tasks.jsonl.gz"],
                   backends=BACKENDS, extra={"generator": "aem_envs.household.generate",
                                             "task_types": list(TASK_TYPES)})
    return folder


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=None, help="folder (default: tasks/household/v0)")
    args = p.parse_args(argv)
    folder = write(args.out)
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
