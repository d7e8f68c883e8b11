"""``HouseholdEnv(task_types=...)``: only those types, in every split, for sampling and for listing."""

from __future__ import annotations

import pytest

import aem_envs

EASY = ["look_at_obj_in_light", "pick_and_place_simple"]


def test_only_the_given_types_are_listed_and_drawn():
    env = aem_envs.make("aem/Household-v0", split="valid_seen", task_types=EASY)
    full = aem_envs.make("aem/Household-v0", split="valid_seen")
    ids = env.unwrapped.tasks.ids("valid_seen")
    every = full.unwrapped.tasks.ids("valid_seen")
    assert ids and set(ids) < set(every)
    assert ids == [i for i in every if full.unwrapped.tasks.get(i)["task_type"] in EASY]  # manifest order
    assert {env.reset(seed=s)[1]["task_type"] for s in range(25)} == set(EASY)
    _, info = env.reset(seed=3)
    _, info2 = aem_envs.make("aem/Household-v0", split="valid_seen", task_types=EASY).reset(seed=3)
    assert info["instance_id"] == info2["instance_id"]  # same seed, same task


def test_bad_types_are_refused():
    with pytest.raises(ValueError, match="task_types"):
        aem_envs.make("aem/Household-v0", task_types=["pick_and_juggle"])
    with pytest.raises(ValueError, match="task_types"):
        aem_envs.make("aem/Household-v0", task_types=[])
