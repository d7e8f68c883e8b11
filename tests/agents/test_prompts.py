from __future__ import annotations

import gymnasium as gym
from hypothesis import given, settings
from hypothesis import strategies as st

from aem_envs.wrappers import ActionParser
from aem_gym.agents.prompts import (
    HouseholdPrompt,
    PromptBuilder,
    PromptState,
    format_action,
    parse_action,
    prompt_builder,
)


def test_registry_longest_prefix():
    assert type(prompt_builder("aem/Household-v0")) is HouseholdPrompt
    assert type(prompt_builder("aem/WebShop-v0")).__name__ == "WebShopPrompt"
    assert type(prompt_builder("aem/SWE-Lite-v0")).__name__ == "SWEPrompt"
    assert type(prompt_builder("example/TreasureHunt-v0")) is PromptBuilder


def test_window_of_last_k_turns_and_actions():
    hist = [(f"act{i}", f"obs{i}") for i in range(6)]
    s = PromptState("aem/Household-v0", "Your task is to: X", "obs5", hist, ["look", "go to desk 1"], turn=6)
    msgs = prompt_builder("aem/Household-v0", k=2).build(s)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "act4" in user and "act5" in user and "act3" not in user
    assert "[Turn 5] Action: act4" in user
    assert "Admissible actions: look, go to desk 1" in user and "Your task is to: X" in user
    assert "act" not in prompt_builder("aem/Household-v0", k=0).build(s)[1]["content"].split("Admissible")[0]


def test_long_observations_and_action_lists_are_clipped():
    s = PromptState("e", "t" * 50_000, "o", [], [f"a{i}" for i in range(500)], 0)
    user = PromptBuilder().build(s)[1]["content"]
    assert len(user) < 10_000 and "(440 more)" in user


class _Null(gym.Env):
    observation_space = action_space = gym.spaces.Discrete(1)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.text(alphabet=st.sampled_from(list("ab <>/actionACTION\n")), max_size=40))
def test_parse_action_matches_the_action_parser_wrapper(a, noise):
    parser = ActionParser(_Null())
    for text in (noise, format_action(a), noise + format_action(a) + noise, format_action(a) + format_action(noise)):
        assert parse_action(text) == parser.parse(text)
