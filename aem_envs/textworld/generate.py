"""Write ``tasks/textworld/v0`` and ``tasks/twx/v0``.

    python -m aem_envs.textworld.generate textworld   # generates every game once (~3 s each), records hashes
    python -m aem_envs.textworld.generate twx         # reads upstream's seed folds (needs Java), ~5 s

Both are byte-identical on every run and day with the pinned upstream versions (see ``games.py`` for what
makes TextWorld's own output depend on the day, the install path and the hash seed, and how it is fixed).
"""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path

from aem_envs._upstream import jvm_upstream
from aem_envs.tasks import tasks_root, write_manifest, write_records

# kind -> settings per instance index (varied so a split mixes difficulties).
TEXTWORLD_KINDS = {
    "coin": lambda i: {"level": (5, 10, 15)[i % 3]},
    "treasure": lambda i: {"level": (3, 6, 9)[i % 3]},
    "custom": lambda i: {"world_size": (3, 5)[i % 2], "nb_objects": 10, "quest_length": (3, 5)[i % 2]},
}
TEXTWORLD_SPLITS = {"train": (0, 10), "dev": (1000, 3), "test": (2000, 5)}  # split -> (first seed, count)
TWX_GAMES = ("cookingworld", "coin", "twc", "mapreader", "arithmetic", "sorting", "simonsays", "peckingorder")
TWX_PER_SPLIT = {"train": 200, "dev": 50, "test": 100}  # the first N seeds of each upstream fold


def textworld_records() -> tuple[list[dict], dict[str, list[str]]]:
    from textworld.generator.chaining import QuestGenerationError
    from tqdm import tqdm

    from aem_envs.textworld.games import game_file, sha256_of

    records, splits = [], {s: [] for s in TEXTWORLD_SPLITS}
    total = len(TEXTWORLD_KINDS) * sum(n for _, n in TEXTWORLD_SPLITS.values())
    with tqdm(total=total, desc="textworld games") as bar:
        for kind, settings_of in TEXTWORLD_KINDS.items():
            for split, (first, count) in TEXTWORLD_SPLITS.items():
                seed, made = first, 0
                while made < count:
                    rec = {"instance_id": f"{kind}-{seed}", "task_type": kind, "kind": kind, "seed": seed,
                           "settings": settings_of(made), "split": split}
                    seed += 1
                    try:
                        z8 = game_file(rec)  # generates into the cache (and so warms it)
                    except QuestGenerationError:
                        continue  # the generator's own "try another seed": the seed is skipped for good
                    import textworld

                    game = textworld.Game.load(str(z8.with_suffix(".json")))
                    records.append({**rec, "walkthrough": list(game.metadata.get("walkthrough") or []),
                                    "sha256": {"game.z8": sha256_of(z8),
                                               "game.json": sha256_of(z8.with_suffix(".json"))}})
                    splits[split].append(rec["instance_id"])
                    made += 1
                    bar.update()
    return records, splits


def twx_records() -> tuple[list[dict], dict[str, list[str]]]:
    upstream = jvm_upstream("TextWorldExpress", "textworld_express.textworld_express")
    env = upstream.TextWorldExpressEnv(envStepLimit=100)
    records, splits = [], {s: [] for s in TWX_PER_SPLIT}
    try:
        for game in TWX_GAMES:
            env.load(game, "")
            folds = {"train": env.getValidSeedsTrain(), "dev": env.getValidSeedsDev(),
                     "test": env.getValidSeedsTest()}
            for split, n in TWX_PER_SPLIT.items():
                for seed in sorted(int(s) for s in folds[split])[:n]:
                    iid = f"{game}-{split}-{seed}"
                    records.append({"instance_id": iid, "task_type": game, "game": game, "fold": split,
                                    "seed": seed, "params": "", "split": split})
                    splits[split].append(iid)
    finally:
        env.close()
    return records, splits


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("which", choices=["textworld", "twx"])
    ap.add_argument("--out", default=None, help="task folder (default tasks/<which>/v0)")
    args = ap.parse_args(argv)
    folder = Path(args.out or tasks_root() / args.which / "v0")
    if args.which == "textworld":
        records, splits = textworld_records()
        backends = {"textworld": metadata.version("textworld")}
        extra = {"kinds": sorted(TEXTWORLD_KINDS), "games": "generated locally from the seeds; not committed"}
    else:
        records, splits = twx_records()
        backends = {"textworld-express": metadata.version("textworld-express")}
        extra = {"games": list(TWX_GAMES), "per_split": TWX_PER_SPLIT, "params": "upstream defaults"}
    write_records(folder / "tasks.jsonl.gz", records)
    m = write_manifest(folder, env=args.which, version="v0", splits=splits, backends=backends, extra=extra)
    print(f"wrote {folder}: " + ", ".join(f"{k} {len(v)}" for k, v in m.splits.items()))


if __name__ == "__main__":
    main()
