"""The v1 catalog: WebShop's rules and reward over products that a shallow strategy cannot shop.

v0's titles carry the very attribute phrases the instructions ask for, so "open the result whose title
shares most words with the instruction, buy" nearly always lands on the target. v1 keeps every rule (the
page machine, BM25 search, upstream's price-ceiling rule, ``reward.score``) and changes only the data
(``python -m aem_envs.webshop.generate --version v1``; measured in docs/webshop.md):

* **Titles carry no attribute and no option value**: brand, the product noun and a model code.
* **Attributes live in the page, not the title**: each product has 3-4 attributes, each written once, into
  the description, a feature bullet after the first (not indexed by search, like upstream's) or a review.
* **Near-duplicate families**: every target has 3-4 siblings with the same brand, noun, text, options and
  price that differ in exactly one thing: one requested attribute swapped for another (one or two such
  siblings; the swapped attribute is mostly written where search does not look), the requested value
  missing from one option group, or a price above every ceiling the goal can draw. Each goal is checked
  with ``reward.score``: the target scores 1.0, every sibling below 1.0 whatever options it picks.
* **Goals are specific**: three attributes (the swapped ones among them) and a value for every option
  group of the target (colour, size, ... are shown on the item page only), one of them the value a sibling
  lacks.
* **Price caps bind**: the price sibling differs only in price and is above the goal's ceiling (upstream's
  rule, unchanged).
* The catalog order is shuffled, so a search that ties siblings does not rank the target first.

Deterministic like v0: one ``random.Random`` per family seeded by its index; a family whose siblings would
tie the target is redrawn with the next attempt's seed.
"""

from __future__ import annotations

import random
import string
from typing import Any

from aem_envs.webshop import vocab
from aem_envs.webshop.catalog import PRICE_STEPS
from aem_envs.webshop.difficulty import best_score
from aem_envs.webshop.generate import RESERVED, _brands, _sentence, goal_record, number_goals
from aem_envs.webshop.reward import option_matches

SEED = 11
N_FAMILIES = 1600
MAX_ATTEMPTS = 50
PLACES = ("description", "features", "reviews")
UNINDEXED = ("features", "reviews", "features", "reviews", "description")
RANGE_SHARE = 0.15  # targets shown with a "$a to $b" price range (the hidden price lies inside)

ATTR_DESCRIPTION = (
    "It comes with {a}, which regular buyers mention first.", "One detail worth knowing: {a}.",
    "Built around {a} for {use}.", "You also get {a}, a feature many shoppers ask about.",
    "Ask anyone who owns one and they will point to the {a}.")
ATTR_BULLET = ("{A}: {benefit}.", "{benefit_cap}, thanks to {a}.", "Why {a}? {benefit_cap}.")
ATTR_REVIEW = ("Did not expect the {a}, but it is there and it works.", "The {a} is exactly as described.",
               "I bought it for {use}; the {a} is the part I like best.")
PLAIN_DESCRIPTION = (
    "The {brand} {noun} is made for {use}.", "Meet the {noun} from {brand}, ready for {use}.",
    "Every {brand} {noun} is backed by a 30-day satisfaction promise.",
    "A simple, reliable {ask} for {use} at an honest price.",
    "Our team checks every {noun} before it leaves the workshop.")
PLAIN_REVIEWS = ("Arrived quickly and looks like the pictures.", "Good {ask} for the money.",
                 "Works well for {use}.", "Not bad, not amazing.", "Gave it as a gift and they liked it.")


def _code(rng: random.Random, brand: str) -> str:
    return f"{brand[:2].upper()}-{rng.randint(100, 999)}"


def _page_text(seed: str, t: vocab.ProductType, brand: str, noun: str, use: str, attrs: list[str],
               where: list[str]) -> dict[str, Any]:
    """Description, bullets and reviews for ``attrs`` (each written once, at ``where[i]``).

    Seeded by ``seed`` alone, so siblings that differ in one attribute read the same but for that phrase.
    """
    rng = random.Random(seed)
    slots = dict(brand=brand, noun=noun.lower(), ask=rng.choice(t.asks), use=use)
    desc = [_sentence(rng, s, **slots) for s in rng.sample(PLAIN_DESCRIPTION, 2)]
    desc.append(rng.choice([s for s in vocab.CATEGORY_DESCRIPTION[t.category] if "{a}" not in s]))
    bullets = [_sentence(rng, b, noun=noun.lower(), use=use) for b in rng.sample(vocab.EXTRA_BULLETS, 2)]
    reviews = [{"title": rng.choice(vocab.REVIEW_TITLES[s]), "score": s,
                "body": _sentence(rng, rng.choice(PLAIN_REVIEWS), **slots)} for s in rng.sample([5, 4, 3], 2)]
    for a, w in zip(attrs, where, strict=True):
        if w == "description":
            desc.insert(rng.randint(1, len(desc)), _sentence(rng, rng.choice(ATTR_DESCRIPTION), a=a, **slots))
        elif w == "features":
            benefit = rng.choice(vocab.BENEFITS)
            bullets.insert(rng.randint(1, len(bullets)), _sentence(
                rng, rng.choice(ATTR_BULLET), A=a.upper(), a=a, benefit=benefit,
                benefit_cap=benefit[0].upper() + benefit[1:]))
        else:
            stars = rng.choice([5, 5, 4])
            reviews.insert(rng.randint(0, len(reviews)), {
                "title": rng.choice(vocab.REVIEW_TITLES[stars]), "score": stars,
                "body": _sentence(rng, rng.choice(ATTR_REVIEW), a=a, **slots)})
    return {"description": " ".join(desc), "bullets": bullets, "reviews": reviews}


def _options(rng: random.Random, t: vocab.ProductType) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    seen = set(RESERVED)
    for group, pool in t.options:
        k = rng.randint(min(3, len(pool)), min(6, len(pool)))
        values = [pool[j] for j in sorted(rng.sample(range(len(pool)), k)) if pool[j] not in seen]
        seen.update(values)
        if values:
            options[group] = values
    return options


def _ceiling_max(price: float) -> float | None:
    """The highest ceiling upstream's rule can draw for ``price`` (None: it may draw no ceiling)."""
    cands = [p for p in PRICE_STEPS if p > price][:4]
    return float(cands[-1]) if len(cands) == 4 else None


class _Family:
    """One target design and its siblings; ``products()`` renders them, ``goals()`` writes their goals."""

    def __init__(self, f: int, attempt: int, t: vocab.ProductType, brand: str):
        self.rng = rng = random.Random(f"{SEED}/family/{f}/{attempt}")
        self.f, self.t, self.brand = f, t, brand
        self.attrs = rng.sample(t.attributes, rng.randint(3, 4))  # few each: a goal's three are rare together
        nouns = [n for n in t.nouns if not any(a in n.lower() for a in t.attributes)] or list(t.nouns)
        self.noun, self.use = rng.choice(nouns), rng.choice(t.uses) if t.uses else "everyday use"
        self.options = _options(rng, t)
        self.key_group = "color" if "color" in self.options else next(iter(self.options), None)
        self.key_value = rng.choice(self.options[self.key_group]) if self.key_group else None
        # the attributes the attribute siblings swap (one or two), and what they swap them for
        self.swaps = rng.sample(range(len(self.attrs)), 1 if rng.random() < 0.3 else 2)
        spare = [a for a in t.attributes if a not in self.attrs]
        self.new_attrs = rng.sample(spare, min(len(spare), len(self.swaps)))
        self.swaps = self.swaps[:len(self.new_attrs)]
        # a swapped attribute is mostly written where search does not look (features after the first, reviews)
        self.where = [rng.choice(UNINDEXED if k in self.swaps else PLACES) for k in range(len(self.attrs))]
        lo, hi = t.price
        self.low = round(rng.uniform(lo, hi), 2)
        if rng.random() < RANGE_SHARE:
            self.pricing = [self.low, round(min(self.low * rng.uniform(1.1, 1.4), hi * 1.5), 2)]
            self.price = round(rng.uniform(*self.pricing), 2)
        else:
            self.pricing, self.price = [self.low], self.low
        self.code = _code(rng, brand)

    def _product(self, tag: str, attrs: list[str], options: dict[str, list[str]], pricing: list[float],
                 price: float) -> dict[str, Any]:
        rng = random.Random(f"{SEED}/asin/{self.f}/{tag}/{self.code}")
        asin = "B0" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(8))
        t = self.t
        page = _page_text(f"{SEED}/page/{self.f}/{self.code}", t, self.brand, self.noun, self.use, attrs,
                          self.where)
        return {"asin": asin, "name": f"{self.brand} {self.noun} {self.code}{tag}", "category": t.category,
                "query": t.query, "product_category": t.breadcrumb, **page, "pricing": pricing,
                "price": price,
                "options": options, "attributes": attrs, "image": f"/static/img/{t.category}.svg"}

    def products(self) -> dict[str, dict[str, Any]]:
        """``{"target": ..., "attr": ..., "option": ..., "price": ...}`` (siblings only where possible)."""
        tags = iter(self.rng.sample("ABCDEFGH", 5))  # which model letter the target gets is random
        out = {"target": self._product(next(tags), self.attrs, self.options, self.pricing, self.price)}
        for n, (k, new) in enumerate(zip(self.swaps, self.new_attrs, strict=True)):
            swapped = [new if j == k else a for j, a in enumerate(self.attrs)]
            out[f"attr{n}"] = self._product(next(tags), swapped, self.options, self.pricing, self.price)
        pool = dict(self.t.options).get(self.key_group, ())
        others = [v for v in pool if not option_matches([v], [self.key_value]) and v in self._free_values()]
        if self.key_group and len(others) >= 2:
            opts = {**self.options, self.key_group: others[:6]}
            out["option"] = self._product(next(tags), self.attrs, opts, self.pricing, self.price)
        top = _ceiling_max(self.price)
        if top is not None and top + 30 < 1000:
            dear = round(top + self.rng.uniform(1, 30), 2)
            out["price"] = self._product(next(tags), self.attrs, self.options, [dear], dear)
        return out

    def _free_values(self) -> set[str]:
        used = {v for g, vals in self.options.items() if g != self.key_group for v in vals}
        return {v for v in dict(self.t.options).get(self.key_group, ()) if v not in used | RESERVED}

    def goals(self, fam: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Two goals on the target (they name the swapped attributes and the key option) and, half the time,
        one on the first attribute sibling (it names its new attribute)."""
        rng, out = self.rng, []
        for _ in range(2):
            out.append(self._goal(fam["target"], [self.attrs[k] for k in self.swaps], rng))
        if "attr0" in fam and rng.random() < 0.5:
            out.append(self._goal(fam["attr0"], self.new_attrs[:1], rng))
        return out

    def _goal(self, product: dict[str, Any], must: list[str], rng: random.Random) -> dict[str, Any]:
        rest = [a for a in product["attributes"] if a not in must]
        attrs = [*must, *rng.sample(rest, 3 - len(must))]
        rng.shuffle(attrs)
        chosen = [(g, self.key_value if g == self.key_group else rng.choice(vals))
                  for g, vals in product["options"].items()]
        return goal_record(rng, product, attrs, rng.choice(self.t.asks), chosen)


def _family(f: int, t: vocab.ProductType, brand: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    for attempt in range(MAX_ATTEMPTS):
        fam = _Family(f, attempt, t, brand)
        members = fam.products()
        goals = fam.goals(members)
        ok = len(members) >= 4 and all(
            (best_score(p, g) == 1.0) == (p["asin"] == g["asin"]) for g in goals for p in members.values())
        if ok:
            return list(members.values()), goals
    raise RuntimeError(f"family {f} ({t.query}): no draw keeps its siblings below the target; widen vocab")


def build(n_products: int | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """``(products, goals, seed)``; ``n_products`` caps the catalog (families are whole)."""
    brand_rng = random.Random(f"{SEED}/brands")
    brands = {t.query: _brands(brand_rng, 20) for t in vocab.TYPES}
    products: list[dict[str, Any]] = []
    goals: list[dict[str, Any]] = []
    asins: set[str] = set()
    for f in range(N_FAMILIES):
        if n_products is not None and len(products) >= n_products:
            break
        t = vocab.TYPES[f % len(vocab.TYPES)]
        members, fam_goals = _family(f, t, brands[t.query][(f // len(vocab.TYPES)) % 20])
        for p in members:
            if p["asin"] in asins:
                raise RuntimeError(f"ASIN {p['asin']} drawn twice; change SEED")
            asins.add(p["asin"])
        products += members
        goals += fam_goals
    random.Random(f"{SEED}/order").shuffle(products)  # siblings apart: search ties break by catalog order
    return products, number_goals(goals, "webshop-v1"), SEED
