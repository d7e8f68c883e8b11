"""WebShop's score, one component at a time, plus worked examples checked by hand."""

from __future__ import annotations

import pytest

from aem_envs.webshop.reward import (
    attribute_matches,
    fuzzy,
    normalize_color,
    option_matches,
    score,
    title_nouns,
    type_reward,
)


def product(**kw):
    base = {"name": "Acme Slim Fit Dress Shirt", "query": "men's shirts",
            "product_category": "Clothing › Men › Shirts › Dress Shirts", "attributes": [], "bullets": [],
            "description": ""}
    return {**base, **kw}


def goal(**kw):
    base = {"name": "Acme Slim Fit Dress Shirt", "query": "men's shirts",
            "product_category": "Clothing › Men › Shirts › Dress Shirts", "attributes": ["slim fit"],
            "goal_options": [], "price_upper": 50.0}
    return {**base, **kw}


def test_fuzzy_reference_points_match_thefuzz():
    assert fuzzy("essential oil", "essential oils") == pytest.approx(96, abs=0.5)
    assert fuzzy("machine wash", "machine washable") > 85
    assert fuzzy("long sleeve", "short sleeve") < 85
    assert fuzzy("8", "8.5") == 100 and fuzzy("small", "x-small") == 100  # subset leniency kept
    assert fuzzy("", "red") == 0


def test_normalize_color_takes_first_alphabetical_substring():
    assert normalize_color("redwood") == "red"
    assert normalize_color("washed") == "ash"
    assert normalize_color("standard") == "tan"
    assert normalize_color("light blue") == "blue"  # "blue" sorts before "light"
    assert normalize_color("dark grey") == "dark"
    assert normalize_color("12 count") == "12 count"


def test_title_nouns_drop_function_words_and_units_keep_duplicates():
    assert title_nouns("Acme Women's Shoe Rack for the Shoe Closet, 3 Pack") == (
        "acme", "women", "shoe", "rack", "shoe", "closet")
    assert title_nouns("") == ()


@pytest.mark.parametrize("bought_name, bought_query, crumbs, expected", [
    ("Acme Slim Fit Dress Shirt", "men's shirts", "Clothing › Men › Shirts › Dress Shirts", 1.0),
    # no query, category or >0.2 title overlap -> 0.5 (title overlap 1/5 = 0.2 is not > 0.2)
    ("Zeta Shirt Organizer", "closet storage", "Home › Storage › Closet", 0.5),
    # the query matches and 2 of 5 title nouns (slim, shirt) overlap -> 1.0
    ("Zeta Slim Gadget Thing Case Cover Stand Holder Dock Shirt", "men's shirts", "Clothing › Men", 1.0),
    ("Zeta Gadget", "men's shirts", "Clothing › Men › Shirts", 0.0),  # no shared noun -> 0
])
def test_type_reward_rules(bought_name, bought_query, crumbs, expected):
    r_type, *_ = type_reward(product(name=bought_name, query=bought_query, product_category=crumbs), goal())
    assert r_type == expected


def test_type_reward_title_below_point_one_overrides_query_match():
    g = goal(name="Acme Alpha Beta Gamma Delta Epsilon Zeta Eta Theta Iota Kappa Shirt")  # 12 nouns
    r_type, query_match, _, title = type_reward(product(name="Other Shirt"), g)
    assert query_match and title == pytest.approx(1 / 12) and r_type == 0.1


def test_category_match_needs_two_shared_levels():
    _, _, cat, _ = type_reward(product(product_category="Clothing › Women › Dresses", query="x"), goal())
    assert cat is False
    _, _, cat, _ = type_reward(product(product_category="Shirts › Clothing", query="x"), goal())
    assert cat is True


def test_attribute_matches_by_fuzzy_attribute_or_substring():
    p = product(attributes=["machine washable"], bullets=["100% cotton, easy care"],
                description="Tea tree oil scent.", name="Acme Shirt Long Sleeve")
    assert attribute_matches(p, ["machine wash"]) == 1  # fuzzy on the attribute list
    assert attribute_matches(p, ["easy care"]) == 1  # substring of bullets
    assert attribute_matches(p, ["tea tree"]) == 1  # substring of the description
    assert attribute_matches(p, ["long sleeve"]) == 1  # substring of the title
    assert attribute_matches(p, ["short sleeve", "waterproof"]) == 0


def test_option_matches_counts_each_goal_option_once():
    assert option_matches(["navy blue", "small"], ["light blue", "small"]) == 2  # colour leniency
    assert option_matches(["size 8"], ["pink", "8"]) == 1
    assert option_matches([], ["pink"]) == 0
    # synthetic dict goals stay (name, value) tuples: buying "standard" (-> "tan") fails, as upstream
    assert option_matches(["standard"], {"size": "standard"}) == 0
    assert option_matches(["grey"], {"color": "grey"}) == 1


def test_price_constraint():
    p = product(attributes=["slim fit"])
    assert score(p, 49.99, {}, goal()).r_price is True
    assert score(p, 50.01, {}, goal()).r_price is False
    assert score(p, 50.01, {}, goal()).reward == pytest.approx(1 / 2)


def test_worked_example_half():
    # attrs [wood frame, living room], options [grey]; no option bought; 1 attr found; price ok
    p = product(attributes=["wood frame"])
    s = score(p, 10.0, {}, goal(attributes=["wood frame", "living room"], goal_options=["grey"]))
    assert (s.num_attr_matches, s.num_option_matches, s.r_price, s.r_type) == (1, 0, True, 1.0)
    assert s.reward == pytest.approx(0.5)
    assert s.w_att == pytest.approx(0.5)
    assert s.w_option == pytest.approx(0.25) and s.w_price == pytest.approx(0.25)


def test_worked_example_three_quarters():
    s = score(product(), 10.0, {"size": "8", "color": "z2-pink"},
              goal(attributes=["teen girls"], goal_options=["pink", "8"]))
    assert s.reward == pytest.approx(0.75)


def test_unit_test_case_and_weak_type():
    p = product(attributes=["a1"], bullets=["has attr two"], description="and attr three inside")
    g = goal(attributes=["a1", "attr two", "missing one"], goal_options=["red", "large", "purple"])
    s = score(p, 10.0, {"color": "red", "size": "large"}, g)
    assert (s.num_attr_matches, s.num_option_matches) == (2, 2)  # a1 (attribute) + attr two (bullet)
    assert s.reward == pytest.approx(5 / 7)  # (2 + 2 + 1) / 7
    weak = dict(p, name="Gizmo Dress Acme Organizer Holder Stand Box", query="x", product_category="A › B")
    s2 = score(weak, 10.0, {"color": "red", "size": "large"}, g)
    # title overlap: {acme, dress} of 5 goal nouns = 0.4 > 0.2, so the type stays 1
    assert s2.r_type == 1.0
    weaker = dict(weak, name="Gizmo Acme Organizer Holder Stand Box")  # 1/5 = 0.2: not > 0.2 -> 0.5
    s3 = score(weaker, 10.0, {"color": "red", "size": "large"}, g)
    assert s3.r_type == 0.5 and s3.reward == pytest.approx(5 / 7 * 0.5)


def test_perfect_purchase_is_exactly_one():
    p = product(attributes=["slim fit", "cotton"])
    s = score(p, 20.0, {"size": "large", "color": "white"},
              goal(attributes=["cotton"], goal_options=["white", "large"]))
    assert s.reward == 1.0
