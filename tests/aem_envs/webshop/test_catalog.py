"""The shipped catalog and instructions: deterministic regeneration, properties the env relies on, search."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from aem_envs.tasks import data_sha256
from aem_envs.webshop import generate
from aem_envs.webshop.catalog import NO_CEILING, PRICE_STEPS
from aem_envs.webshop.engine import split_command
from aem_envs.webshop.env import load_generated
from aem_envs.webshop.search import TOP_K, tokenize


@pytest.fixture(scope="module", params=["v0", "v1"])
def shipped(request):
    tasks, catalog = load_generated(request.param)
    goals = [tasks.get(i) for s in tasks.splits() for i in tasks.ids(s)]
    return tasks, catalog, goals


def test_regeneration_is_byte_identical(tmp_path, shipped):
    tasks, _, _ = shipped
    generate.main(["--version", tasks.manifest.version, "--out", str(tmp_path)])
    for name, digest in tasks.manifest.files.items():
        assert data_sha256(tmp_path / name) == digest, f"{name} differs from the shipped file"
    assert (tmp_path / "manifest.json").read_text() == tasks.path("manifest.json").read_text()


def test_catalog_shape(shipped):
    tasks, catalog, goals = shipped
    v1 = tasks.manifest.version == "v1"
    assert len(catalog) >= 5000
    assert set(Counter(p["category"] for p in catalog.products)) == {
        "fashion", "beauty", "electronics", "grocery", "furniture"}
    assert len({p["query"] for p in catalog.products}) >= 30
    assert len({p["name"] for p in catalog.products}) > 0.95 * len(catalog)  # titles are not one template
    # v1's near-duplicate siblings share their text but for one phrase
    assert len({p["description"] for p in catalog.products}) > (0.2 if v1 else 0.95) * len(catalog)
    assert sum(bool(p["reviews"]) for p in catalog.products) > 0.7 * len(catalog)
    assert 0.1 < sum(len(p["pricing"]) == 2 for p in catalog.products) / len(catalog) < 0.4


def test_every_product_is_consistent(shipped):
    tasks, catalog, _ = shipped
    reserved = generate.RESERVED
    v1 = tasks.manifest.version == "v1"
    for p in catalog.products:
        assert re.fullmatch(r"B0[A-Z0-9]{8}", p["asin"])
        assert p["product_category"].count(" › ") >= 2
        page = [*p["bullets"], p["description"], *(r["body"] for r in p["reviews"])]
        text = " ".join([p["name"], *page] if not v1 else page).lower()
        assert all(a in text for a in p["attributes"]), p["asin"]  # attributes are findable on the page
        if v1:  # ... but never in a v1 title (docs/webshop.md)
            assert not any(a in p["name"].lower() for a in p["attributes"]), p["name"]
        values = [v for vals in p["options"].values() for v in vals]
        assert len(values) == len(set(values)) and not reserved & set(values)
        assert all(v == v.lower() and "[" not in v and "]" not in v and "/" not in v for v in values)
        assert p["pricing"][0] <= p["price"] <= p["pricing"][-1]


def test_goals_are_human_style_with_price_ceilings(shipped):
    tasks, catalog, goals = shipped
    assert len(goals) >= (3900 if tasks.manifest.version == "v1" else 7000)
    assert len(tasks.ids("test")) == 500 and len(tasks.ids("eval")) == 1000
    for g in goals:
        p = catalog.by_asin[g["asin"]]
        text = g["instruction_text"]
        assert 1 <= len(g["attributes"]) <= 3 and set(g["attributes"]) <= set(p["attributes"])
        assert all(a in text for a in g["attributes"]) and all(v in text for v in g["goal_options"])
        values = {v for vals in p["options"].values() for v in vals}
        assert set(g["goal_options"]) <= values
        assert p["price"] <= g["price_upper"]
        if g["price_upper"] < NO_CEILING:
            assert g["price_upper"] in PRICE_STEPS
            assert text.endswith(f", and price lower than {g['price_upper']:.2f} dollars")
            first = min(s for s in PRICE_STEPS if s > p["price"])
            assert first + 10 <= g["price_upper"] <= first + 30  # the 2nd-4th candidate, never the 1st
    starts = Counter(" ".join(g["instruction_text"].split()[:2]) for g in goals)
    assert len(starts) >= 10  # many phrasings


def test_search_finds_titles_and_ranks_deterministically(shipped):
    _, catalog, _ = shipped
    engine = catalog.search
    for p in catalog.products[:200]:
        hits = engine.search(tuple(p["name"].lower().split(" ")))
        assert 0 < len(hits) <= TOP_K and p["asin"] in hits[:10]
    assert engine.search(("zzqx", "qqqv")) == ()
    assert engine.search(("the", "and")) == ()  # stopwords only
    q = ("wireless", "earbuds")
    assert engine.search(q) == engine._search(q) and len(engine.search(q)) == TOP_K


def test_tokenizer_is_lucene_like():
    assert tokenize("The Running Shoes, for Women!") == ["run", "shoe", "women"]


def test_all_admissible_clicks_parse_back_to_themselves(shipped):
    _, catalog, _ = shipped
    for p in catalog.products[:500]:
        for vals in p["options"].values():
            for v in vals:
                assert split_command(f"click[{v}]") == ("click", v)
