from __future__ import annotations

import re

import gymnasium as gym
import pytest
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
    for text in (noise, format_action(a), noise + format_action(a) + noise,
                 format_action(a) + format_action(noise)):
        assert parse_action(text) == parser.parse(text)


def test_history_by_token_budget_drops_oldest_first_and_says_so():
    """Issue 20: a fixed 3-turn window hid visited places; history now fills a token budget."""
    hist = [(f"act{i}", f"obs{i} " + "x" * 400) for i in range(30)]
    s = PromptState("aem/Household-v0", "Your task is to: X", hist[-1][1], hist, ["look"], turn=30,
                    max_turns=50)
    user = prompt_builder("aem/Household-v0", k=None, history_tokens=1000).build(s)[1]["content"]
    shown = [int(i) for i in re.findall(r"\] Action: act(\d+)", user)]
    assert shown == list(range(30 - len(shown), 30)) and 5 <= len(shown) < 30  # the newest, in order
    assert f"({30 - len(shown)} earlier turns omitted)" in user
    everything = prompt_builder("aem/Household-v0", k=None, history_tokens=None).build(s)[1]["content"]
    assert "act0" in everything and "omitted" not in everything
    assert len(user) < 1000 * 4 + 2000 < len(everything)


def test_every_prompt_has_the_step_counter_and_the_limit_warning():
    b = prompt_builder("aem/SWERepair-v0", k=None, history_tokens=6000)
    first = b.build(PromptState("aem/SWERepair-v0", "Fix it.", "Fix it.", [], None, turn=0, max_turns=50))
    assert "Step 1 of 50 (49 left after this one)." in first[1]["content"]
    assert "graded as it stands" not in first[1]["content"].split("Step 1")[1]
    late = b.build(PromptState("aem/SWERepair-v0", "Fix it.", "o", [("a", "o")] * 48, None, turn=48,
                               max_turns=50))
    assert ("Step 49 of 50 (1 left after this one). At the limit the repository is graded"
            in late[1]["content"])
    unknown = prompt_builder("e").build(PromptState("e", "t", "o", [("a", "o")], None, turn=1))
    assert "Step 2." in unknown[1]["content"]


@pytest.mark.parametrize("env_id", ["aem/WebShop-v0", "aem/SWERepair-v0", "aem/Household-v0", "example/X-v0"])
def test_the_newest_observation_is_printed_once(env_id):
    obs = "PAGE-1234 unique text"
    s = PromptState(env_id, "Your task is to: T", obs, [("a0", "old page"), ("a1", obs)], None, turn=2)
    user = prompt_builder(env_id, k=None, history_tokens=6000).build(s)[1]["content"]
    assert user.count("PAGE-1234") == 1 and "old page" in user and "a1" in user


def test_swe_output_is_clipped_once_with_the_env_notice():
    from aem_envs.swe.tools import truncate

    out = truncate("\n".join(f"line {i}" for i in range(5000)), 8000)
    s = PromptState("aem/SWERepair-v0", "Fix it.", out, [("<bash>x</bash>", out)], None, turn=1)
    user = prompt_builder("aem/SWERepair-v0", k=None, history_tokens=6000).build(s)[1]["content"]
    assert user.count("characters omitted ...]") == 1
    assert "output truncated: " in user and "\n[...]\n" not in user
    big = PromptState("e", "t", "y" * 50_000, [], None, turn=1)
    assert "[... 46000 of 50000 characters omitted ...]" in PromptBuilder().build(big)[1]["content"]


def test_household_system_prompt_uses_the_real_grammar():
    import aem_envs

    system = prompt_builder("aem/Household-v0").system
    env = aem_envs.make("aem/Household-v0")
    _, info = env.reset(seed=1)
    verbs = set()
    for _ in range(30):
        verbs |= {a.split()[0] for a in info["admissible_actions"]}
        a = env.unwrapped.oracle_action()
        if a is None:
            break
        *_, term, _, info = env.step(a)
        if term:
            break
    assert "move" in verbs and "move X to Y" in system and "put" not in system
    assert all(v in system for v in verbs - {"help"})
