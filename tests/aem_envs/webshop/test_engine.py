"""The page machine on a tiny hand-made catalog: parser, transitions, clickables, observations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aem_envs.webshop.catalog import Catalog, price_text
from aem_envs.webshop.engine import Engine, State, render_text, render_text_rich, split_command

I = "i want a white shirt"  # noqa: E741


def item(asin, name, options=None, pricing=(19.99,), reviews=()):
    return {"asin": asin, "name": name, "category": "fashion", "query": "shirts",
            "product_category": "Clothing › Men › Shirts", "description": f"{name} description.",
            "bullets": [f"{name} bullet one", "Machine wash"], "reviews": list(reviews),
            "pricing": list(pricing), "price": pricing[0], "options": options or {}, "attributes": []}


@pytest.fixture(scope="module")
def engine():
    products = [item("B09ABC1234", "Men's Slim Fit Long Sleeve Button Down Dress Shirt",
                     {"color": ["white", "navy blue | white"], "size": ["small", "x-large"]}, (19.99, 29.99),
                     [{"title": "Nice", "score": 4, "body": "Fits well."}]),
                item("B01SHIRT02", "Casual Oxford Shirt for Men",
                     {"size": ["1"], "count": ["1", "2"]}, (45,))]
    products += [item(f"B0FILL{i:04d}", f"Filler shirt number {i}") for i in range(23)]
    return Engine(Catalog(products, "test-engine"))


@pytest.mark.parametrize("action, parsed", [
    ("click[buy now]", ("click", "buy now")),
    ("click[buy now]extra", ("click", "buy now")),  # text after "]" ignored
    ("click[size [us] 8]", ("click[size ", "us] 8")),  # greedy first group, as upstream
    ("search[]", None), ("search", None), ("[x]", None), ("", None),
    ("Click[buy now]", ("Click", "buy now")),  # parsed, but the name is case-sensitive (refused later)
    ("search[red shoes]\nclick[x]", ("search", "red shoes")),  # first line only
    ("search[" + "]" * 50, ("search", "]" * 49)),
])
def test_split_command_matches_upstream_regex(action, parsed):
    assert split_command(action) == parsed


@given(st.text(alphabet="ab[] \n", max_size=30))
def test_split_command_equals_the_regex(action):
    import re

    m = re.match(r"(.+)\[(.+)\]", action)
    assert split_command(action) == (m.groups() if m else None)


def test_search_page_text_and_refused_search_button(engine):
    s = State()
    assert render_text(engine.view(s, I)) == f"WebShop [SEP] Instruction: [SEP] {I} [SEP] Search"
    out = engine.step(s, "click[search]")
    assert not out.valid and out.state == s


def test_results_pages_and_pagination(engine):
    out = engine.step(State(), "search[Shirt]")
    assert out.valid and out.state == State("results", ("shirt",), 1)
    res = engine.results(out.state)
    assert len(res) == 25 and len(set(res)) == 25
    text = render_text(engine.view(out.state, I))
    assert text.startswith(f"Instruction: [SEP] {I} [SEP] Back to Search [SEP] Page 1 (Total results: 25) "
                           f"[SEP] Next > [SEP]")
    assert list(engine.clickables(out.state))[:2] == ["back to search", "next >"]
    assert "< prev" not in engine.clickables(out.state)
    s = out.state
    for _ in range(3):
        s = engine.step(s, "click[next >]").state
    assert s.page_num == 4 and engine.page_items(s) == ()  # past the end: empty, Next > still there
    assert render_text(engine.view(s, I)).endswith("Page 4 (Total results: 25) [SEP] < Prev [SEP] Next >")
    assert engine.step(s, "click[< prev]").state.page_num == 3


def test_item_page_options_subpages_and_back(engine):
    s = engine.step(State(), "search[slim fit dress shirt]").state
    assert engine.results(s)[0] == "B09ABC1234"
    s = engine.step(s, "click[b09abc1234]").state
    assert s.page == "item" and s.asin == "B09ABC1234"
    text = render_text(engine.view(s, I))
    assert text == (f"Instruction: [SEP] {I} [SEP] Back to Search [SEP] < Prev [SEP] color [SEP] white [SEP] "
                    "navy blue | white [SEP] size [SEP] small [SEP] x-large [SEP] Men's Slim Fit Long Sleeve "
                    "Button Down Dress Shirt [SEP] Price: $19.99 to $29.99 [SEP] Rating: 4.0 [SEP] "
                    "Description [SEP] Features [SEP] Reviews [SEP] Buy Now")
    s = engine.step(s, "click[navy blue | white]").state
    s = engine.step(s, "click[small]").state
    s = engine.step(s, "click[white]").state  # same group: overwritten in place
    assert s.selected == {"color": "white", "size": "small"}
    marked = render_text(engine.view(s, I))  # issue 20 defect 8: the choice is said and marked
    assert marked != text
    said = "You have clicked small. [SEP] You have clicked white. [SEP] "  # latest first
    assert marked.startswith(f"{said}Instruction: [SEP] {I}")
    assert ("[SEP] color [SEP] white (selected) [SEP] navy blue | white [SEP] size [SEP] "
            "small (selected) [SEP]"
            in marked)
    assert marked.count("(selected)") == 2 and marked.count("You have clicked") == 2
    rich = render_text_rich(engine.view(s, I))
    assert rich.startswith("You have clicked small.\nYou have clicked white.\nInstruction:\n")
    assert "  [clicked button] white [clicked button_]" in rich
    sub = engine.step(s, "click[features]").state
    assert render_text(engine.view(sub, I)).endswith("< Prev [SEP] Men's Slim Fit Long Sleeve Button Down "
                                                     "Dress Shirt bullet one [SEP] Machine wash")
    assert list(engine.clickables(sub)) == ["back to search", "< prev"]
    back = engine.step(sub, "click[< prev]").state
    assert back.page == "item" and back.selected == s.selected  # sub-page -> item keeps options
    reviews = engine.step(s, "click[reviews]").state
    assert render_text(engine.view(reviews, I)).endswith("Nice [SEP] 4 out of 5 stars [SEP] Fits well.")
    results = engine.step(s, "click[< prev]").state
    assert results == State("results", s.keywords, 1)  # item -> results: options reset
    assert engine.step(s, "click[back to search]").state == State()
    done = engine.step(s, "click[buy now]").state
    assert done.page == "done" and done.selected == s.selected
    assert not engine.step(done, "search[anything]").valid


def test_refusals(engine):
    s = engine.step(engine.step(State(), "search[oxford]").state, "click[b01shirt02]").state
    for bad in ["Click[buy now]", "click[ buy now ]", "click[next >]", "press[buy now]", "buy now",
                "x" * 5000]:
        out = engine.step(s, bad)
        assert not out.valid and out.state == s and out.message
    assert engine.step(s, "search[dress]").valid  # search works from any page (upstream text env)
    strict = Engine(engine.catalog, search_anywhere=False)
    assert not strict.step(s, "search[dress]").valid


def test_duplicate_option_values_collapse_into_the_later_group(engine):
    s = State("item", ("oxford",), 1, asin="B01SHIRT02")
    clickables = engine.clickables(s)
    assert clickables["1"] == ("option", "count")
    assert engine.step(s, "click[1]").state.selected == {"count": "1"}


def test_price_text_uses_python_float_formatting():
    assert price_text([45]) == "$45.0" and price_text([19.99, 29.99]) == "$19.99 to $29.99"
    assert price_text([]) == "$100.0"


@given(st.builds(State, page=st.sampled_from(["search", "results", "item", "sub", "done"]),
                 keywords=st.lists(st.text(min_size=1).filter(lambda s: " " not in s),
                                   min_size=1, max_size=3).map(tuple),
                 page_num=st.integers(1, 9), asin=st.sampled_from([None, "B09ABC1234"]),
                 options=st.lists(st.tuples(st.text(min_size=1), st.text()), max_size=2)
                 .map(lambda o: tuple(dict(o).items())),
                 sub=st.sampled_from([None, "Description", "Reviews"])))
def test_state_query_round_trip(state):
    assert State.from_query(state.to_query()) == state
