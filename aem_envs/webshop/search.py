"""BM25 product search, like WebShop's Pyserini index, on ``bm25s``.

Upstream indexes, per product, the lowercased ``title + description + first bullet + option text`` with
Lucene's English analyzer (stopwords removed, Porter stemming) and ranks with BM25 (k1 = 0.9, b = 0.4),
returning the top 50. We do the same with ``bm25s`` (method ``lucene``) and PyStemmer's Porter stemmer.
Two deliberate details: only documents that contain at least one query term are returned (as Lucene does;
a query of unknown words gives zero results), and ties are broken by catalog order so the ranking never
depends on the sort routine. ``ranked`` also says which results tie (equal BM25 scores): Lucene orders
those by index position, an arbitrary order, which the env may permute by its seed (``Engine.tie_key``).

The index is built once per catalog (keyed by the task manifest's hash) and shared by every env in the
process; searches are memoised, so the repeated queries of RL rollouts cost a dict lookup.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import bm25s
import numpy as np
import Stemmer

TOP_K = 50
K1, B = 0.9, 0.4
# Lucene's default English stop set (what Anserini's analyzer removes).
STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with".split())
_TOKEN = re.compile(r"[a-z0-9]+")
_local = threading.local()
_stems: dict[str, str] = {}
_MAX_STEMS = 500_000


def _stem(word: str) -> str:
    s = _stems.get(word)
    if s is None:
        stemmer = getattr(_local, "stemmer", None)
        if stemmer is None:  # PyStemmer objects are not thread-safe: one per thread
            stemmer = _local.stemmer = Stemmer.Stemmer("porter")
        s = stemmer.stemWord(word)
        if len(_stems) < _MAX_STEMS:  # bounded: agents can search for endless made-up words
            _stems[word] = s
    return s


def tokenize(text: str) -> list[str]:
    """Lowercase, split on non-alphanumerics, drop stopwords, Porter-stem."""
    return [_stem(w) for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS]


def option_text(options: Mapping[str, Sequence[str]]) -> str:
    """Upstream's ``"color: white, navy blue | white, and size: small, x-large"``."""
    return ", and ".join(f"{name}: {', '.join(values)}" for name, values in options.items())


def document(product: Mapping[str, Any]) -> str:
    first = product["bullets"][0] if product["bullets"] else ""
    return " ".join([product["name"], product["description"], first, option_text(product["options"])]).lower()


class SearchEngine:
    """``search(keywords) -> asins`` (at most 50, best first) over a list of products."""

    def __init__(self, products: Sequence[Mapping[str, Any]]):
        self.asins = [p["asin"] for p in products]
        corpus = [tokenize(document(p)) for p in products]
        self._bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
        self._bm25.index(corpus, show_progress=False)
        self._vocab = self._bm25.vocab_dict
        self._order = np.arange(len(self.asins))
        self.ranked = lru_cache(maxsize=16384)(self._ranked)  # per instance, thread-safe

    def search(self, keywords: tuple[str, ...]) -> tuple[str, ...]:
        """The ranked asins (memoised)."""
        return self.ranked(keywords)[0]

    def _search(self, keywords: tuple[str, ...]) -> tuple[str, ...]:
        return self._ranked(keywords)[0]

    def _ranked(self, keywords: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """``(asins, tie groups)``: results best first, and per result the index of its run of equal
        scores."""
        terms = [t for t in tokenize(" ".join(keywords)) if t in self._vocab]
        if not terms or not self.asins:
            return (), ()
        scores = self._bm25.get_scores(terms)
        hits = np.flatnonzero(scores > 0)
        if hits.size > TOP_K:
            # argpartition then a stable lexsort on (-score, catalog position) among the candidates
            cut = np.partition(scores[hits], hits.size - TOP_K)[hits.size - TOP_K]
            hits = hits[scores[hits] >= cut]
        ranked = hits[np.lexsort((self._order[hits], -scores[hits]))][:TOP_K]
        top = scores[ranked]
        groups = np.concatenate(([0], np.cumsum(top[1:] != top[:-1]))) if len(top) else top
        return tuple(self.asins[i] for i in ranked), tuple(int(g) for g in groups)
