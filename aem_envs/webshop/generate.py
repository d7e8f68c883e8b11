"""Generate the WebShop-rules catalog and instructions: ``python -m aem_envs.webshop.generate``.

Deterministic: every product and goal is drawn from its own ``random.Random`` seeded by its index, files
are written with sorted keys and a zero gzip mtime, so a regeneration is byte-identical (and the manifest
hash with it). Writes ``tasks/webshop/<version>/{catalog.jsonl.gz, tasks.jsonl.gz, manifest.json}``;
``--version v0`` is the first catalog (this module), ``v1`` (the default) the harder one of ``generate_v1``.

Goals follow WebShop's *human* goal style: 1-3 of the target's attributes and a value for most of its
option groups written into free text, plus ``", and price lower than X.00 dollars"`` from the 4-candidate
price rule on the target's hidden price. After a seeded shuffle the splits are upstream's: test = goals
0-499, eval = 500-1499, train = the rest.
"""

from __future__ import annotations

import argparse
import random
import string
from pathlib import Path
from typing import Any

from aem_envs.tasks import tasks_root, write_manifest, write_records
from aem_envs.webshop import vocab
from aem_envs.webshop.catalog import CATALOG_FILE, price_ceiling, price_suffix

N_PRODUCTS = 5000
SEED = 5
SHUFFLE_SEED = 233  # upstream's goal shuffle seed
RESERVED = {"back to search", "< prev", "next >", "description", "features", "reviews", "buy now", "search"}


def _brands(rng: random.Random, n: int) -> list[str]:
    names: set[str] = set()
    while len(names) < n:
        names.add((rng.choice(vocab.BRAND_HEADS) + rng.choice(vocab.BRAND_TAILS)).capitalize())
    return sorted(names)


def _title_case(s: str) -> str:
    return " ".join(w if w[:1].isdigit() or w.isupper() else w[:1].upper() + w[1:] for w in s.split())


def _title(rng: random.Random, brand: str, noun: str, attrs: list[str], use: str) -> str:
    a = [_title_case(x) for x in attrs]
    forms = [
        f"{brand} {a[0]} {noun}, {a[1]}",
        f"{brand} {noun} - {a[0]} {a[1]} for {_title_case(use)}",
        f"{a[0]} {noun} for {_title_case(use)} | {brand}",
        f"{brand} {noun} with {a[0]} and {a[1]}",
        f"{brand} {a[1]} {a[0]} {noun}",
    ]
    return rng.choice(forms)


def _sentence(rng: random.Random, template: str, **slots: str) -> str:
    s = template.format(**slots)
    return s[0].upper() + s[1:]


def make_product(i: int, t: vocab.ProductType, brand: str) -> dict[str, Any]:
    rng = random.Random(f"{SEED}/product/{i}")
    asin = "B0" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(8))
    attrs = rng.sample(t.attributes, rng.randint(2, min(5, len(t.attributes))))
    use = rng.choice(t.uses) if t.uses else "everyday use"
    noun, ask = rng.choice(t.nouns), rng.choice(t.asks)
    name = _title(rng, brand, noun, attrs, use)
    slots = dict(brand=brand, noun=noun.lower(), ask=ask, use=use)
    sentences = rng.sample(vocab.DESCRIPTION, rng.randint(2, 4))
    sentences.insert(rng.randint(1, len(sentences)), rng.choice(vocab.CATEGORY_DESCRIPTION[t.category]))
    desc = " ".join(_sentence(rng, s, **dict(zip("ab", rng.sample(attrs, 2), strict=True)), **slots)
                    for s in sentences)
    bullets = []
    for a in attrs:  # every attribute is written into a bullet, so it is findable in the page text
        benefit = rng.choice(vocab.BENEFITS)
        bullets.append(_sentence(rng, rng.choice(vocab.BULLET), A=a.upper(), a=a, benefit=benefit,
                                 benefit_cap=benefit[0].upper() + benefit[1:], use=use))
    rng.shuffle(bullets)
    bullets += [_sentence(rng, b, noun=noun.lower(), use=use)
                for b in rng.sample(vocab.EXTRA_BULLETS, rng.randint(0, 2))]
    reviews = []
    for _ in range(rng.choice([0, 1, 2, 2, 3, 3, 4, 5])):
        stars = rng.choices([5, 4, 3, 2, 1], weights=[45, 30, 12, 7, 6])[0]
        reviews.append({"title": rng.choice(vocab.REVIEW_TITLES[stars]), "score": stars,
                        "body": _sentence(rng, rng.choice(vocab.REVIEW_BODIES[stars]), a=rng.choice(attrs),
                                          ask=ask, use=use)})
    options: dict[str, list[str]] = {}
    seen = set(RESERVED)
    for group, pool in t.options:
        if len(t.options) > 1 and rng.random() < 0.12:  # some listings offer fewer choices
            continue
        k = rng.randint(2, min(6, len(pool)))
        idx = sorted(rng.sample(range(len(pool)), k))  # catalogue order, as sellers list them
        values = [pool[j] for j in idx if pool[j] not in seen]  # values must be unique clickables
        seen.update(values)
        if values:
            options[group] = values
    lo, hi = t.price
    low = round(rng.uniform(lo, hi), 2)
    if rng.random() < 0.22:  # a price range: the reward uses a hidden draw inside it (upstream quirk)
        high = round(min(low * rng.uniform(1.1, 1.6), hi * 1.5), 2)
        pricing, price = [low, high], round(rng.uniform(low, high), 2)
    else:
        pricing, price = [low], low
    return {"asin": asin, "name": name, "category": t.category, "query": t.query,
            "product_category": t.breadcrumb, "description": desc, "bullets": bullets, "reviews": reviews,
            "pricing": pricing, "price": price, "options": options, "attributes": attrs,
            "image": f"/static/img/{t.category}.svg"}


def make_catalog(n: int = N_PRODUCTS) -> list[dict[str, Any]]:
    brand_rng = random.Random(f"{SEED}/brands")
    brands = {t.query: _brands(brand_rng, 12) for t in vocab.TYPES}
    products, asins = [], set()
    for i in range(n):
        t = vocab.TYPES[i % len(vocab.TYPES)]
        p = make_product(i, t, brands[t.query][(i // len(vocab.TYPES)) % 12])
        while p["asin"] in asins:  # astronomically rare; keep ids unique deterministically
            p["asin"] = p["asin"][:-1] + chr(ord("A") + len(asins) % 26)
        asins.add(p["asin"])
        products.append(p)
    return products


def _option_phrase(rng: random.Random, group: str, value: str) -> str:
    forms = vocab.OPTION_PHRASES.get(group, vocab.OPTION_PHRASES["_"])
    return rng.choice(forms).format(name=group, v=value)


def _noun_of(product: dict[str, Any], t: vocab.ProductType) -> str:
    return next((n.lower() for n in t.nouns if n in product["name"]), t.asks[0])


def make_goal(j: int, product: dict[str, Any], t: vocab.ProductType) -> dict[str, Any]:
    rng = random.Random(f"{SEED}/goal/{j}")
    attrs = rng.sample(product["attributes"], rng.randint(1, min(3, len(product["attributes"]))))
    chosen = [(g, rng.choice(vals)) for g, vals in product["options"].items() if rng.random() < 0.9]
    # generic, or this product's noun
    ask = rng.choice(t.asks) if rng.random() < 0.6 else _noun_of(product, t)
    return goal_record(rng, product, attrs, ask, chosen)


def goal_record(rng: random.Random, product: dict[str, Any], attrs: list[str], ask: str,
                chosen: list[tuple[str, str]]) -> dict[str, Any]:
    """A human-style goal for ``product``: instruction text from ``vocab.INSTRUCTION`` and upstream's price
    ceiling rule on its hidden price (shared by every catalog version)."""
    attr_text = attrs[0] if len(attrs) == 1 else ", ".join(attrs[:-1]) + " and " + attrs[-1]
    opts = "".join(("," if k else "") + " " + _option_phrase(rng, g, v) for k, (g, v) in enumerate(chosen))
    text = rng.choice(vocab.INSTRUCTION).format(attrs=attr_text, ask=ask, opts=opts)
    price_upper = price_ceiling(product["price"], lambda n, k: rng.sample(range(n), k))
    return {"asin": product["asin"], "instruction_text": text + price_suffix(price_upper),
            "attributes": attrs,
            "goal_options": [v for _, v in chosen], "price_upper": price_upper, "name": product["name"],
            "query": product["query"], "category": product["category"],
            "product_category": product["product_category"], "task_type": product["category"]}


def make_goals(products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    types = {t.query: t for t in vocab.TYPES}
    goals, j = [], 0
    for p in products:
        for _ in range(1 + (int(p["asin"], 36) % 5 < 2)):  # 1 or 2 instructions per product
            goals.append(make_goal(j, p, types[p["query"]]))
            j += 1
    return number_goals(goals, "webshop")


def number_goals(goals: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """Upstream's seeded goal shuffle, then ids ``<prefix>-00000``... in shuffled order."""
    random.Random(SHUFFLE_SEED).shuffle(goals)
    for k, g in enumerate(goals):
        g["instance_id"] = f"{prefix}-{k:05d}"
    return goals


def build_v0(n_products: int | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    products = make_catalog(n_products or N_PRODUCTS)
    return products, make_goals(products), SEED


def _build_v1(n_products: int | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    from aem_envs.webshop import generate_v1  # it builds on this module's helpers

    return generate_v1.build(n_products)


# version -> builder(number of products or None) -> (products, goals, seed)
BUILDERS = {"v0": build_v0, "v1": _build_v1}
DEFAULT_VERSION = "v1"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", choices=sorted(BUILDERS), default=DEFAULT_VERSION,
                    help=f"which catalog design to write (default {DEFAULT_VERSION}; docs/webshop.md)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default tasks/webshop/<version>)")
    ap.add_argument("--products", type=int, default=None, help="catalog size (default: the version's)")
    args = ap.parse_args(argv)
    out = args.out or tasks_root() / "webshop" / args.version
    out.mkdir(parents=True, exist_ok=True)
    products, goals, seed = BUILDERS[args.version](args.products)
    write_records(out / CATALOG_FILE, products)
    write_records(out / "tasks.jsonl.gz", goals)
    ids = [g["instance_id"] for g in goals]
    m = write_manifest(out, env="webshop", version=args.version,
                       splits={"test": ids[:500], "eval": ids[500:1500], "train": ids[1500:]},
                       files=[CATALOG_FILE, "tasks.jsonl.gz"],
                       extra={"products": len(products), "goals": len(goals), "seed": seed})
    print(f"wrote {len(products)} products and {len(goals)} goals to {out} (manifest {m.sha256[:12]})")


if __name__ == "__main__":
    main()
