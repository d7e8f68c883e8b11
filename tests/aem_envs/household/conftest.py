"""Fixtures of the household tests: a small hand-written kitchen (a hand-written game) and a task
provider that serves it to either engine."""

from __future__ import annotations

import importlib.util

import pytest

HAS_ALFWORLD = (importlib.util.find_spec("alfworld") is not None
                and importlib.util.find_spec("textworld") is not None)
needs_alfworld = pytest.mark.skipif(not HAS_ALFWORLD,
                                    reason="needs the household extra (alfworld + textworld)")


def kitchen_task(task_type: str = "pick_heat_then_place_in_recep",
                 goal_text: str = "put a hot apple in countertop",
                 obj: str = "Apple", recep: str = "CounterTop", toggle: str = "") -> dict:
    side = "loc|6|2|0|30"
    recs = [
        {"id": "CounterTop|-01.00|+00.95|+00.50", "cls": "CounterTop", "loc": "loc|1|1|0|30"},
        {"id": "CounterTop|+01.20|+00.95|+00.50", "cls": "CounterTop", "loc": "loc|2|1|0|30"},
        {"id": "Cabinet|+00.50|+02.00|-01.00", "cls": "Cabinet", "loc": "loc|3|1|0|30", "openable": True},
        {"id": "Microwave|+01.50|+01.00|+00.00", "cls": "Microwave", "loc": "loc|4|1|0|30", "openable": True},
        {"id": "Fridge|-02.00|+00.00|+01.00", "cls": "Fridge", "loc": "loc|5|1|0|30", "openable": True},
        {"id": "Sink|+00.00|+00.90|+02.00|SinkBasin", "cls": "SinkBasin", "loc": "loc|7|1|0|30"},
        {"id": "SideTable|+02.50|+00.00|+02.00", "cls": "SideTable", "loc": side},
        {"id": "Drawer|+02.50|+00.30|+02.00", "cls": "Drawer", "loc": side, "openable": True},
    ]
    objs = [
        {"id": "Mug|+00.40|+02.01|-01.00", "cls": "Mug", "in": recs[2]["id"]},
        {"id": "Egg|-02.00|+00.50|+01.00", "cls": "Egg", "in": recs[4]["id"]},
        {"id": "DeskLamp|+02.50|+00.80|+02.00", "cls": "DeskLamp", "in": recs[6]["id"]},
        {"id": "Apple|+01.10|+00.96|+00.20", "cls": "Apple", "in": recs[1]["id"]},
        {"id": "Apple|-01.10|+00.96|+00.40", "cls": "Apple", "in": recs[0]["id"]},
        {"id": "Knife|+01.30|+00.96|+00.30", "cls": "Knife", "in": recs[1]["id"]},
    ]
    return {"instance_id": f"kitchen-{task_type}", "task_type": task_type, "seed": 0, "split": "train",
            "goal": {"obj": obj, "recep": recep, "toggle": toggle}, "goal_text": goal_text,
            "start": "loc|0|0|0|30", "locations": ["loc|0|0|0|30"] + sorted({r["loc"] for r in recs}),
            "receptacles": recs, "objects": objs}


class DictTasks:
    """A TaskProvider over in-memory task records."""

    name, version = "household-test", "v0"

    def __init__(self, *tasks: dict):
        self.tasks = {t["instance_id"]: t for t in tasks}

    def splits(self) -> list[str]:
        return ["train"]

    def ids(self, split: str) -> list[str]:
        return list(self.tasks)

    def get(self, instance_id: str) -> dict:
        return self.tasks[instance_id]


def make_engine(kind: str, *tasks: dict):
    if kind == "native":
        from aem_envs.household.env import HouseholdEnv

        env = HouseholdEnv(admissible_order="sorted")  # ALFWorld's own order, as the real engine lists
    else:
        if not HAS_ALFWORLD:
            pytest.skip("needs the household extra (alfworld + textworld)")
        from aem_envs.household.alfworld_env import ALFWorldEnv

        env = ALFWorldEnv()
    env.tasks = DictTasks(*tasks)
    return env


@pytest.fixture(params=["native", pytest.param("alfworld", marks=needs_alfworld)])
def engine(request):
    """Both engines on the hand-written kitchen: golden texts must hold on each (ALFWorld is the
    reference)."""
    env = make_engine(request.param, kitchen_task(), kitchen_task(
        "look_at_obj_in_light", "examine the apple with the desklamp", toggle="DeskLamp", recep=""))
    yield env
    env.close()
