"""Write a household task as a PDDL problem and as a playable ALFWorld game file (``.tw-pddl``).

The game file carries ALFWorld's own domain (``alfred.pddl``) and grammar (``alfred.twl2``) from the
installed ``alfworld`` wheel, with the goal text written into the grammar's ``task`` rule, plus our
problem; TextWorld plays it offline (docs/envs.md). ``problem_text`` needs nothing
installed; ``game_json``/``write_game`` need the ``household`` extra.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from aem_envs.household import constants as K
from aem_envs.household.names import mangle

# Class constants the domain itself refers to; every problem declares them.
_DOMAIN_OTYPES = ("Knife", "ButterKnife")
_DOMAIN_RTYPES = ("SinkBasin", "Microwave", "Fridge")
_AFFORDANCES = (("heatable", K.HEATABLE), ("coolable", K.COOLABLE), ("cleanable", K.CLEANABLE),
                ("toggleable", K.TOGGLEABLE), ("sliceable", K.SLICEABLE),
                ("isReceptacleObject", K.RECEPTACLE_OBJECTS))

_GOALS = {
    "pick_and_place_simple": "(exists (?r - receptacle) (exists (?o - object) (and (inReceptacle ?o ?r) "
                             "(objectType ?o {obj}Type) (receptacleType ?r {recep}Type))))",
    "pick_two_obj_and_place": "(exists (?r - receptacle) (exists (?o1 - object) (and "
                              "(objectType ?o1 {obj}Type) "
                              "(receptacleType ?r {recep}Type) (inReceptacle ?o1 ?r) (exists (?o2 - object) "
                              "(and (not (= ?o1 ?o2)) (objectType ?o2 {obj}Type) "
                              "(receptacleType ?r {recep}Type) "
                              "(inReceptacle ?o2 ?r))))))",
    "look_at_obj_in_light": "(and (exists (?ot - object ?r - receptacle ?a - agent ?l - location) (and "
                            "(objectType ?ot {toggle}Type) (toggleable ?ot) (isToggled ?ot) "
                            "(receptacleAtLocation ?r ?l) (atLocation ?a ?l) (inReceptacle ?ot ?r))) "
                            "(exists (?o - object ?a - agent) (and (objectType ?o {obj}Type) "
                            "(holds ?a ?o))))",
}
for _t, (_aff, _state) in {"pick_clean_then_place_in_recep": ("cleanable", "isClean"),
                           "pick_heat_then_place_in_recep": ("heatable", "isHot"),
                           "pick_cool_then_place_in_recep": ("coolable", "isCool")}.items():
    _GOALS[_t] = (f"(exists (?r - receptacle) (exists (?o - object) (and ({_aff} ?o) "
                  f"(objectType ?o {{obj}}Type) "
                  f"(receptacleType ?r {{recep}}Type) ({_state} ?o) (inReceptacle ?o ?r))))")


def problem_text(task: Mapping[str, Any]) -> str:
    """The task as a PDDL problem for ALFWorld's ``alfred`` domain, ids mangled like ALFWorld's."""
    recs, objs = task["receptacles"], task["objects"]
    rloc = {r["id"]: r["loc"] for r in recs}
    rcls = {r["id"]: r["cls"] for r in recs}
    otypes = sorted({o["cls"] for o in objs} | set(_DOMAIN_OTYPES))
    rtypes = sorted({r["cls"] for r in recs} | set(_DOMAIN_RTYPES))
    m = mangle
    init = [f"(atLocation agent1 {m(task['start'])})"]
    for r in recs:
        init += [f"(receptacleType {m(r['id'])} {r['cls']}Type)",
                 f"(receptacleAtLocation {m(r['id'])} {m(r['loc'])})"]
        if r.get("openable"):
            init.append(f"(openable {m(r['id'])})")
        if r.get("opened"):
            init.append(f"(opened {m(r['id'])})")
    for o in objs:
        oid, cls = m(o["id"]), o["cls"]
        init += [f"(objectType {oid} {cls}Type)", f"(inReceptacle {oid} {m(o['in'])})",
                 f"(objectAtLocation {oid} {m(rloc[o['in']])})"]
        if cls not in K.NOT_PICKUPABLE:
            init.append(f"(pickupable {oid})")
        init += [f"({pred} {oid})" for pred, classes in _AFFORDANCES if cls in classes]
        init += [f"({s} {oid})" for s in o.get("state", ())]
    present = {o["cls"] for o in objs}
    for rc in sorted({rcls[r["id"]] for r in recs}):
        init += [f"(canContain {rc}Type {oc}Type)"
                 for oc in sorted(present) if oc in K.CAN_CONTAIN.get(rc, ())]
    g = task["goal"]
    goal = _GOALS[task["task_type"]].format(obj=g["obj"], recep=g["recep"], toggle=g["toggle"])
    lines = [
        f"(define (problem plan_{task['seed']})",
        "  (:domain alfred)",
        "  (:objects",
        "    agent1 - agent",
        "    " + " ".join(f"{c}Type" for c in otypes) + " - otype",
        "    " + " ".join(f"{c}Type" for c in rtypes) + " - rtype",
        *(f"    {m(o['id'])} - object" for o in objs),
        *(f"    {m(r['id'])} - receptacle" for r in recs),
        *(f"    {m(loc)} - location" for loc in task["locations"]),
        "  )",
        "  (:init",
        *(f"    {f}" for f in init),
        "  )",
        f"  (:goal {goal})",
        ")",
    ]
    return "\n".join(lines) + "\n"


def alfworld_data(name: str) -> str:
    """A text file shipped in the ``alfworld`` wheel (``alfred.pddl``, ``alfred.twl2``)."""
    try:
        return resources.files("alfworld").joinpath("data", name).read_text(encoding="utf-8")
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the real ALFWorld engine needs the household extra: pip install 'aem-gym[household]'") from None


def game_json(task: Mapping[str, Any], walkthrough: list[str] | None = None) -> dict[str, Any]:
    """The ``.tw-pddl`` content: ALFWorld's domain and grammar (goal filled in) plus our problem."""
    grammar = alfworld_data("alfred.twl2").replace("UNKNOWN GOAL", task["goal_text"])
    out: dict[str, Any] = {"pddl_domain": alfworld_data("alfred.pddl"), "grammar": grammar,
                           "pddl_problem": problem_text(task), "solvable": True}
    if walkthrough is not None:
        out["walkthrough"] = list(walkthrough)
    return out


def write_game(task: Mapping[str, Any], folder: Path, walkthrough: list[str] | None = None) -> Path:
    """Write ``folder/game.tw-pddl`` and the ``traj_data.json`` ALFWorld's experts read next to it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "game.tw-pddl"
    path.write_text(json.dumps(game_json(task, walkthrough)), encoding="utf-8")
    g = task["goal"]
    traj = {"task_type": task["task_type"], "pddl_params": {
        "object_target": g["obj"], "parent_target": g["recep"], "toggle_target": g["toggle"],
        "mrecep_target": "", "object_sliced": False}}
    (folder / "traj_data.json").write_text(json.dumps(traj), encoding="utf-8")
    return path
