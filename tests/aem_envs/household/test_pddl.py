"""The PDDL writer, and aem/ALFWorld-v0 on an ALFWorld-style data folder (source="official")."""

from __future__ import annotations

import json

import pytest

from aem_envs.household.generate import make_task
from aem_envs.household.names import display_names, mangle
from aem_envs.household.pddl import problem_text

from .conftest import kitchen_task, needs_alfworld


def test_names_follow_alfworld_numbering():
    ids = ["CounterTop|+01.20|+00.95|+00.50", "CounterTop|-01.00|+00.95|+00.50",
           "Sink|+00.00|+00.90|+02.00|SinkBasin"]
    assert display_names(ids) == {ids[0]: "countertop 1", ids[1]: "countertop 2", ids[2]: "sinkbasin 1"}
    assert mangle("Apple|-01.65|+00.81") == "Apple_bar__minus_01_dot_65_bar__plus_00_dot_81"


def test_problem_text_has_every_fact_the_engine_needs():
    task = make_task(5, "train", "pick_cool_then_place_in_recep")
    text = problem_text(task)
    assert text.startswith("(define (problem plan_5)") and "(:domain alfred)" in text
    for r in task["receptacles"]:
        assert f"(receptacleAtLocation {mangle(r['id'])} {mangle(r['loc'])})" in text
    for o in task["objects"]:
        assert f"(inReceptacle {mangle(o['id'])} {mangle(o['in'])})" in text
    assert "(canContain FridgeType " in text and "(isCool ?o)" in text
    for const in ("KnifeType", "ButterKnifeType", "SinkBasinType", "MicrowaveType", "FridgeType"):
        assert const in text
    assert text.count("(") == text.count(")")


@needs_alfworld
def test_official_layout_is_collected_filtered_and_played(tmp_path, monkeypatch):
    from aem_envs.household.alfworld_env import ALFWorldEnv
    from aem_envs.household.pddl import write_game

    split = tmp_path / "json_2.1.1" / "valid_seen"
    t = kitchen_task()
    write_game(t, split / "pick_heat_then_place_in_recep-Apple-None-CounterTop-1" / "trial_T1")
    # skipped
    write_game(t, split / "pick_heat_then_place_in_recep-AppleSliced-None-CounterTop-1" / "trial_T2")
    unsolvable = write_game(t, split / "pick_heat_then_place_in_recep-Apple-None-CounterTop-2" / "trial_T3")
    unsolvable.write_text(json.dumps({**json.loads(unsolvable.read_text()), "solvable": False}))
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    env = ALFWorldEnv(split="valid_seen", source="official")
    assert (env.tasks.ids("valid_seen")
            == ["valid_seen/pick_heat_then_place_in_recep-Apple-None-CounterTop-1/trial_T1"])
    obs, info = env.reset(seed=0)
    assert info["task_type"] == "pick_heat_then_place_in_recep"
    assert info["goal"] == "put a hot apple in countertop"
    assert obs.endswith("Your task is to: put a hot apple in countertop.")
    for a in ["go to countertop 1", "take apple 1 from countertop 1", "go to microwave 1",
              "heat apple 1 with microwave 1", "go to countertop 1"]:
        assert env.step(a)[4]["is_action_valid"]
    obs, reward, term, _, info = env.step("move apple 1 to countertop 1")
    assert (reward, term, info["won"]) == (10.0, True, True)
    env.close()
    env.close()


@needs_alfworld
def test_official_source_needs_data(monkeypatch):
    from aem_envs.error import UnknownTaskError
    from aem_envs.household.alfworld_env import ALFWorldEnv

    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    with pytest.raises(UnknownTaskError, match="ALFWORLD_DATA"):
        ALFWorldEnv(source="official")
