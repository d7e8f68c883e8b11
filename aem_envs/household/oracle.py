"""The household oracle: a planner over the world state, and its ε-noisy variant.

``plan_next(world)`` returns the next command of a short plan from *any* state (it re-plans every step, as
ALFWorld's planner expert does), so it also recovers after random detours: it first gets rid of a useless
held object, then fetches a target object (preferring one at the current pose, then one in an open
receptacle), brings it to the appliance if the task needs a state change, and puts it in the target
receptacle (for pick-two, the one already holding a first object). For the look task it carries the object
to a lamp and uses it. Every command it returns is admissible.
"""

from __future__ import annotations

from typing import Any

from aem_envs.household.world import World

_STATE = {"pick_clean_then_place_in_recep": ("clean", "SinkBasin", "clean"),
          "pick_heat_then_place_in_recep": ("hot", "Microwave", "heat"),
          "pick_cool_then_place_in_recep": ("cool", "Fridge", "cool")}


def _reach(w: World, r: int) -> str | None:
    """The command that gets receptacle ``r`` usable (go there, open it), or None if it already is."""
    L = w.L
    if L.r_loc[r] != w.loc:
        return f"go to {L.r_name[r]}"
    if L.r_openable[r] and not w.opened[r]:
        return f"open {L.r_name[r]}"
    return None


def _put(w: World, o: int, r: int) -> str:
    return _reach(w, r) or w.L.syntax.put_cmd.format(o=w.L.o_name[o], r=w.L.r_name[r])


def _rank(w: World, r: int) -> tuple[int, int]:
    """Cheapest receptacles first: here, then open or door-less ones, then closed ones."""
    L = w.L
    return (0 if L.r_loc[r] == w.loc else 1) + (0 if not L.r_openable[r] or w.opened[r] else 1), r


def plan_next(w: World) -> str | None:
    """Next command towards the goal, or None once the goal holds."""
    if w.goal_reached():
        return None
    L, t = w.L, w.L.task_type
    state = _STATE.get(t)
    states = {"clean": w.clean, "hot": w.hot, "cool": w.cool}
    two_target = None
    if t == "pick_two_obj_and_place":
        holding = [r for r in L.target_recs if any(o in L.target_objs for o in w.contents[r])]
        two_target = min(holding, key=lambda r: _rank(w, r)) if holding else None

    def useful(o: int) -> bool:
        return o in L.target_objs and not (two_target is not None and w.obj_in[o] == two_target)

    held = w.held
    if held >= 0 and not useful(held) and not (t == "pick_two_obj_and_place" and held in L.target_objs):
        # Put the stray object back somewhere that accepts it (the cheapest such receptacle).
        spots = [r for r in range(len(L.r_name)) if L.accepts[r][held]]
        return _put(w, held, min(spots, key=lambda r: _rank(w, r)))
    if held >= 0:
        if t == "look_at_obj_in_light":
            lamp = min(L.lamps, key=lambda x: _rank(w, w.obj_in[x]))
            r = w.obj_in[lamp]
            if L.r_loc[r] != w.loc:
                return f"go to {L.r_name[r]}"
            return f"use {L.o_name[lamp]}"
        if state and held not in states[state[0]]:
            app = min((r for r in range(len(L.r_name)) if L.r_cls[r] == state[1]), key=lambda r: _rank(w, r))
            if L.r_loc[app] != w.loc:
                return f"go to {L.r_name[app]}"
            return f"{state[2]} {L.o_name[held]} with {L.r_name[app]}"
        target = two_target if two_target is not None else min(L.target_recs, key=lambda r: _rank(w, r))
        return _put(w, held, target)
    # Hands empty: fetch a target object, preferring one that already has the needed state.
    cands = [o for o in L.target_objs if useful(o) and w.obj_in[o] >= 0]
    if not cands:
        return None

    def cost(o: int) -> tuple:
        has_state = state is None or o in states[state[0]]
        return _rank(w, w.obj_in[o])[0] + (0 if has_state else 1), o

    o = min(cands, key=cost)
    r = w.obj_in[o]
    return _reach(w, r) or f"take {L.o_name[o]} from {L.r_name[r]}"


class NoisyOracle:
    """ε-random demonstrations: with probability ``epsilon`` a uniformly random admissible command,
    otherwise the oracle's. ``rng`` is a ``numpy.random.Generator`` (or anything with ``random()`` and
    ``integers(n)``), so demonstrations are reproducible. Call it with a ``HouseholdEnv`` (or any env whose
    ``unwrapped`` has ``oracle_action()`` and ``admissible_actions()``)."""

    def __init__(self, epsilon: float, rng: Any):
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon, self.rng = epsilon, rng

    def __call__(self, env: Any) -> str:
        env = getattr(env, "unwrapped", env)
        acts = env.admissible_actions() or ["look"]
        best = env.oracle_action()
        if best is None or self.rng.random() < self.epsilon:
            return acts[int(self.rng.integers(len(acts)))]
        return best
