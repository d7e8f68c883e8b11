"""The product catalog: records, display helpers, loading and the per-process cache.

A product is a plain dict (JSON on disk, cheap to load) with the fields WebShop's ``load_products`` builds::

    asin              10-character id, upper case ("B0...")
    name              title
    category          coarse bucket (fashion, beauty, electronics, grocery, furniture)
    query             search-query bucket shared by a group of products (type reward)
    product_category  breadcrumb joined with " › " (type reward: >= 2 shared levels)
    description       one paragraph (Description sub-page, indexed)
    bullets           list of feature bullets (Features sub-page; the first is indexed)
    reviews           list of {"title", "score" (1-5), "body"} (Reviews sub-page)
    pricing           [price] or [low, high] (what the agent sees)
    price             hidden purchase price used by the reward (drawn once, seeded, inside the range)
    options           ordered {group: [values]}, values normalised (lowercase, "/" -> " | ")
    attributes        mined attribute phrases (attribute reward)
    image             placeholder image URL (the web page only)

A goal (task record) has ``instance_id, asin, instruction_text, attributes, goal_options`` (a list of values,
or a ``{group: value}`` dict for upstream's synthetic goals), ``price_upper`` and the target's ``name,
query, category, product_category``.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aem_envs.webshop.search import SearchEngine

CATALOG_FILE = "catalog.jsonl.gz"
PRICE_STEPS = tuple(range(10, 1000, 10))  # upstream's PRICE_RANGE for the price ceiling
NO_CEILING = 1_000_000.0


def price_text(pricing: Sequence[float]) -> str:
    """Upstream's display string; Python float formatting on purpose (``45`` shows as ``$45.0``)."""
    if len(pricing) >= 2:
        return f"${float(pricing[0])} to ${float(pricing[1])}"
    return f"${float(pricing[0])}" if pricing else "$100.0"


def rating_text(reviews: Sequence[Mapping[str, Any]]) -> str:
    if not reviews:
        return "N.A."
    return f"{sum(r['score'] for r in reviews) / len(reviews):.1f}"


def price_ceiling(price: float, draw: Any) -> float:
    """Upstream's rule: of the first four 10-dollar steps above ``price``, draw two and keep the larger.

    ``draw(n, k)`` returns ``k`` distinct indices below ``n`` (a seeded sampler); with fewer than two steps
    left (price >= 980) there is no ceiling.
    """
    cands = [p for p in PRICE_STEPS if p > price][:4]
    if len(cands) < 2:
        return NO_CEILING
    i, j = draw(len(cands), 2)
    return float(max(cands[i], cands[j]))


def price_suffix(price_upper: float) -> str:
    return f", and price lower than {price_upper:.2f} dollars" if price_upper < NO_CEILING else ""


class Catalog:
    """Products by position and by ASIN, plus the lazily built search index."""

    def __init__(self, products: list[dict[str, Any]], key: str):
        self.products = products
        self.by_asin = {p["asin"]: p for p in products}
        if len(self.by_asin) != len(products):
            raise ValueError("catalog lists an ASIN twice")
        self.key = key
        self._search: SearchEngine | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.products)

    @property
    def search(self) -> SearchEngine:
        if self._search is None:
            with self._lock:
                if self._search is None:
                    self._search = SearchEngine(self.products)
        return self._search


_cache: dict[str, Catalog] = {}
_cache_lock = threading.Lock()


def cached_catalog(key: str, load: Any) -> Catalog:
    """The process-wide catalog for ``key`` (e.g. a manifest hash), built with ``load()`` the first time."""
    with _cache_lock:
        cat = _cache.get(key)
        if cat is None:
            cat = _cache[key] = Catalog(load(), key)
        return cat


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


