"""The adapter for upstream's data files, on small files written in upstream's format."""

from __future__ import annotations

import json

import pytest

import aem_envs
from aem_envs.webshop.original import load_original, parse_pricing


def raw(asin, name, query, options=None, pricing="$19.99", **kw):
    return {"asin": asin, "name": name, "category": "fashion", "query": f"  {query.title()} ",
            "product_category": "Clothing, Shoes & Jewelry › Men › Shirts",
            "full_description": f"{name}. Soft cotton.",
            "small_description": [f"{name} bullet", "Machine wash"],
            "pricing": pricing, "customization_options": options, "images": ["http://img/1.jpg"],
            "brand": "dropped", **kw}


@pytest.fixture
def data_dir(tmp_path):
    items = [
        raw("B09ABC1234", "Men's Slim Fit Button Down Shirt", "men's shirts",
            {"Color": [{"value": "White"}, {"value": "Navy Blue/White"}], "Size": [{"value": "Small"}],
             "Style": None}, "$19.99 - $29.99"),
        raw("B01SHIRT02", "Casual Oxford Shirt for Men", "men's shirts", None, ""),
        raw("B01SHIRT02", "Duplicate asin is dropped", "x"),
        raw("nan", "No asin", "x"),
        raw("B0TOOLONG1234", "Asin too long", "x"),
        raw("B07HOODIE1", "Zip Up Hoodie", "men's hoodies",
            {"Size": [{"value": "Large"}, {"value": "X-Large"}]},
            "$45"),
    ]
    ins = {"B09ABC1234": {"attributes": ["slim fit", "button down"],
                          "instruction": "Find me slim fit men's shirts",
                          "instruction_attributes": ["slim fit"]},
           "B01SHIRT02": {"attributes": []}}
    human = {"B09ABC1234": [{"instruction": "i want a slim fit white shirt in small.",
                             "instruction_attributes": ["slim fit"],
                             "instruction_options": ["white", "small"]},
                            {"instruction": "no attributes: skipped", "instruction_attributes": [],
                             "instruction_options": []}],
             "B07HOODIE1": [{"instruction": "a large zip up hoodie", "instruction_attributes": ["zip up"],
                             "instruction_options": ["large"]}]}
    (tmp_path / "items_shuffle_1000.json").write_text(json.dumps(items))
    (tmp_path / "items_ins_v2_1000.json").write_text(json.dumps(ins))
    (tmp_path / "items_human_ins.json").write_text(json.dumps(human))
    return tmp_path


def test_parse_pricing_like_upstream():
    assert parse_pricing("$19.99 - $29.99") == [19.99, 29.99]
    assert parse_pricing("$1,299.00") == [1299.0]
    assert parse_pricing("") == [100.0] and parse_pricing(None) == [100.0]
    assert parse_pricing("$5 $6 $7") == [5.0, 6.0]


def test_products_are_processed_like_load_products(data_dir):
    tasks, catalog = load_original(data_dir)
    assert [p["asin"] for p in catalog.products] == ["B09ABC1234", "B01SHIRT02", "B07HOODIE1"]
    shirt = catalog.by_asin["B09ABC1234"]
    assert shirt["options"] == {"color": ["white", "navy blue | white"], "size": ["small"]}
    assert shirt["query"] == "men's shirts" and shirt["reviews"] == []
    assert 19.99 <= shirt["price"] <= 29.99 and shirt["pricing"] == [19.99, 29.99]
    assert (catalog.by_asin["B01SHIRT02"]["pricing"] == [100.0]
            and catalog.by_asin["B01SHIRT02"]["attributes"] == [])
    assert catalog.by_asin["B07HOODIE1"]["attributes"] == ["DUMMY_ATTR"]  # not in the attributes file
    assert "brand" not in shirt


def test_human_goals(data_dir):
    tasks, _ = load_original(data_dir)
    goals = [tasks.get(i) for i in tasks.ids("test")]
    assert len(goals) == 2 and tasks.ids("eval") == [] and tasks.ids("train") == []
    shirt = next(g for g in goals if g["asin"] == "B09ABC1234")
    prefix = "i want a slim fit white shirt in small, and price lower than "
    assert shirt["instruction_text"].startswith(prefix)
    assert shirt["goal_options"] == ["white", "small"] and shirt["attributes"] == ["slim fit"]
    again, _ = load_original(data_dir)
    assert [again.get(i) for i in again.ids("test")] == goals  # seeded: same texts every run


def test_synthetic_goals_are_the_option_cartesian_product(data_dir):
    tasks, _ = load_original(data_dir, human_goals=False)
    goals = [tasks.get(i) for i in tasks.ids("test")]
    assert len(goals) == 2  # color x size for the one product with a synthetic instruction
    texts = sorted(g["instruction_text"].split(", and price")[0] for g in goals)
    assert texts == ["Find me slim fit men's shirts with color: navy blue | white, and size: small",
                     "Find me slim fit men's shirts with color: white, and size: small"]
    assert all(isinstance(g["goal_options"], dict) for g in goals)


def test_env_runs_on_upstream_files_and_the_oracle_wins(data_dir):
    env = aem_envs.make("aem/WebShop-v0", data_dir=str(data_dir), split="test")
    for iid in env.unwrapped.tasks.ids("test"):
        env.reset(options={"instance_id": iid})
        for _ in range(15):
            *_, term, trunc, info = env.step(env.unwrapped.oracle_action())
            if term or trunc:
                break
        assert info["won"], info
    env.close()


def test_missing_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_original(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="items_shuffle"):
        load_original(tmp_path)
