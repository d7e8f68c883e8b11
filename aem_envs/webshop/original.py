"""Adapter for upstream WebShop's data files: ``make("aem/WebShop-v0", data_dir=PATH)``.

``PATH`` holds upstream's files (their ``data/`` folder), which we cannot ship or download:

* ``items_shuffle.json`` (1.18M products) or ``items_shuffle_1000.json``: the scraped products;
* ``items_ins_v2.json`` / ``items_ins_v2_1000.json``: mined attributes (and synthetic instructions);
* ``items_human_ins.json``: the 12,087 crowd-sourced instructions (``human_goals=True``, the default).

Products are processed as upstream's ``load_products`` does and goals as its
``get_human_goals`` / ``get_synthetic_goals`` (§1.5), then shuffled with seed 233 and split test = 0-499,
eval = 500-1499, train = the rest. Departures: the hidden prices of range-priced products and the price
ceilings come from ``random.Random(seed)`` (upstream draws them unseeded, so its texts change between
runs), and reviews stay empty as upstream's are. ``num_products`` keeps the first N products (and prefers
the ``_1000`` files when N <= 1000). The result is cached per process by the files' identity.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aem_envs.error import UnknownTaskError
from aem_envs.webshop.catalog import Catalog, cached_catalog, price_ceiling, price_suffix

SHUFFLE_SEED = 233
_PRICE_JUNK = re.compile(r"[^0-9.]")


class MemoryTasks:
    """A ``TaskProvider`` over records held in memory (the goals built from upstream's files)."""

    def __init__(self, name: str, version: str, records: list[dict[str, Any]], splits: dict[str, list[str]]):
        self.name, self.version = name, version
        self._records = {r["instance_id"]: r for r in records}
        self._splits = splits

    def splits(self) -> list[str]:
        return list(self._splits)

    def ids(self, split: str) -> list[str]:
        try:
            return list(self._splits[split])
        except KeyError:
            raise UnknownTaskError(f"no split {split!r}; splits: {self.splits()}") from None

    def get(self, instance_id: str) -> Mapping[str, Any]:
        try:
            return self._records[instance_id]
        except KeyError:
            raise UnknownTaskError(f"no task {instance_id!r} in {self.name}/{self.version}") from None


def parse_pricing(raw: Any) -> list[float]:
    """Upstream: split on ``$``, strip everything but digits and dots, keep the first two amounts."""
    prices = []
    for piece in str(raw or "").split("$")[1:]:
        piece = _PRICE_JUNK.sub("", piece)
        try:
            prices.append(float(piece))
        except ValueError:
            continue
    return prices[:2] if prices else [100.0]


def normalize_option_value(v: str) -> str:
    return str(v).strip().replace("/", " | ").lower()


def process_products(raw: list[dict[str, Any]], ins: Mapping[str, Any], rng: random.Random,
                     limit: int | None) -> list[dict[str, Any]]:
    out, seen = [], set()
    for p in raw:
        asin = str(p.get("asin", "nan"))
        if asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        bullets = p.get("small_description") or []
        options = {}
        for name, values in (p.get("customization_options") or {}).items():
            if values is None:
                continue
            options[name.lower()] = [normalize_option_value(v["value"]) for v in values]
        pricing = parse_pricing(p.get("pricing"))
        price = rng.uniform(pricing[0], pricing[1]) if len(pricing) == 2 else pricing[0]
        info = ins.get(asin)
        out.append({
            "asin": asin, "name": p.get("name") or "", "category": p.get("category") or "",
            "query": (p.get("query") or "").lower().strip(),
            "product_category": p.get("product_category") or "",
            "description": p.get("full_description") or "",
            "bullets": [bullets] if isinstance(bullets, str) else list(bullets), "reviews": [],
            "pricing": pricing, "price": price, "options": options,
            "attributes": list(info.get("attributes") or []) if info is not None else ["DUMMY_ATTR"],
            "image": (p.get("images") or [""])[0] or "",
            "_synthetic": (info or {}).get("instruction"),
        })
        if limit is not None and len(out) >= limit:
            break
    return out


def _goal(product: dict[str, Any], text: str, attrs: list[str], options: Any,
          rng: random.Random) -> dict[str, Any]:
    upper = price_ceiling(product["price"], lambda n, k: rng.sample(range(n), k))
    return {"asin": product["asin"], "instruction_text": text + price_suffix(upper), "attributes": attrs,
            "goal_options": options, "price_upper": upper, "name": product["name"], "query": product["query"],
            "category": product["category"], "product_category": product["product_category"],
            "task_type": product["category"] or "shop"}


def make_goals(products: list[dict[str, Any]], human: Mapping[str, Any] | None, ins: Mapping[str, Any],
               rng: random.Random) -> list[dict[str, Any]]:
    goals = []
    for p in products:
        if human is not None:
            for row in human.get(p["asin"], []):
                attrs = list(row.get("instruction_attributes") or [])
                if attrs:
                    goals.append(_goal(p, row["instruction"].strip("."), attrs,
                                       list(row.get("instruction_options") or []), rng))
        elif p["_synthetic"]:
            attrs = list(ins[p["asin"]].get("instruction_attributes") or [])
            names = sorted(p["options"])
            for combo in itertools.product(*(p["options"][n] for n in names)):
                opts = dict(zip(names, combo, strict=True))
                tail = " with " + ", and ".join(f"{k}: {v}" for k, v in opts.items()) if opts else ""
                goals.append(_goal(p, p["_synthetic"] + tail, attrs, opts, rng))
    return goals


def _pick(folder: Path, stem: str, small: bool) -> Path:
    full, thousand = folder / f"{stem}.json", folder / f"{stem}_1000.json"
    order = [thousand, full] if small else [full, thousand]
    for p in order:
        if p.is_file():
            return p
    raise FileNotFoundError(f"no {stem}.json or {stem}_1000.json in {folder} "
                            "(upstream WebShop's data folder)")


def load_original(data_dir: str | Path, human_goals: bool = True, num_products: int | None = None,
                  seed: int = SHUFFLE_SEED) -> tuple[MemoryTasks, Catalog]:
    """``(tasks, catalog)`` from upstream's data files in ``data_dir`` (see the module docstring)."""
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"WebShop data folder {folder} does not exist")
    small = num_products is not None and num_products <= 1000
    items, attrs = _pick(folder, "items_shuffle", small), _pick(folder, "items_ins_v2", small)
    human_path = folder / "items_human_ins.json"
    if human_goals and not human_path.is_file():
        raise FileNotFoundError(f"human_goals=True needs {human_path}; "
                                "pass human_goals=False for synthetic goals")
    files = [items, attrs] + ([human_path] if human_goals else [])
    ident = json.dumps([[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
                       + [human_goals, num_products, seed])
    key = "original:" + hashlib.sha256(ident.encode()).hexdigest()
    def load() -> list[dict[str, Any]]:
        rng = random.Random(seed)
        ins = json.loads(attrs.read_text(encoding="utf-8"))
        products = process_products(json.loads(items.read_text(encoding="utf-8")), ins, rng, num_products)
        human = json.loads(human_path.read_text(encoding="utf-8")) if human_goals else None
        goals = make_goals(products, human, ins, rng)
        random.Random(seed).shuffle(goals)
        for i, g in enumerate(goals):
            g["instance_id"] = f"original-{i:06d}"
        _goals_cache[key] = goals  # set under cached_catalog's lock, before any other thread can look
        for p in products:
            p.pop("_synthetic", None)
        return products

    catalog = cached_catalog(key, load)
    goals = _goals_cache[key]
    ids = [g["instance_id"] for g in goals]
    tasks = MemoryTasks("webshop-original", "human" if human_goals else "synthetic", goals,
                        {"test": ids[:500], "eval": ids[500:1500], "train": ids[1500:]})
    return tasks, catalog


_goals_cache: dict[str, list[dict[str, Any]]] = {}
