"""The household world: ALFWorld's PDDL rules and text grammar, re-implemented as plain Python state.

``Layout`` is the static part of a task (names, locations, who accepts what), compiled once per task;
``World`` is one episode's mutable state. ``World.commands()`` returns every admissible command mapped to
its operation, built only when the state has changed since the last call (looking, examining or repeating
a heat does not rebuild it), so listing and validating commands is cheap.

Behaviour follows ALFWorld 0.4 (docs/envs.md), quirks included: objects can be examined only while held,
no ``go to`` a receptacle at the current pose, ``use`` always says "You turn on", appliances work with
the door closed, and ``look`` lists "next to it" objects only after they were moved within one pose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aem_envs.household.constants import (
    CAN_CONTAIN,
    CLEANABLE,
    COOLABLE,
    HEATABLE,
    KNIVES,
    NOT_PICKUPABLE,
    RECEPTACLE_OBJECTS,
    SLICEABLE,
    TOGGLEABLE,
)
from aem_envs.household.names import display_names, join_list, sort_key
from aem_envs.registry import Registry

WELCOME = "-= Welcome to TextWorld, ALFRED! =-\n\n"
NOTHING_HAPPENS = "Nothing happens."
HELP_TEXT = (  # the grammar's rule starts with a newline that the engine strips
    "Available commands:\n"
    "  look:                             look around your current location\n"
    "  inventory:                        check your current inventory\n"
    "  go to (receptacle):               move to a receptacle\n"
    "  open (receptacle):                open a receptacle\n"
    "  close (receptacle):               close a receptacle\n"
    "  take (object) from (receptacle):  take an object from a receptacle\n"
    "  {put_help}\n"
    "  examine (something):              examine a receptacle or an object\n"
    "  use (object):                     use an object\n"
    "  heat (object) with (receptacle):  heat an object using a receptacle\n"
    "  clean (object) with (receptacle): clean an object using a receptacle\n"
    "  cool (object) with (receptacle):  cool an object using a receptacle\n"
    "  slice (object) with (object):     slice an object using a sharp object\n"
)


@dataclass(frozen=True)
class Syntax:
    """The data version's wording: ALFWorld 0.4 (``move X to Y``, default) or 0.3 (``put X in/on Y``)."""

    name: str
    put_cmd: str
    put_text: str
    arrive_at_loc: bool  # 0.3 data says "You arrive at loc 5." instead of the receptacle's name
    put_help: str


SYNTAXES: Registry[Syntax] = Registry("household syntax")
SYNTAXES.register("0.4", Syntax("0.4", "move {o} to {r}", "You move the {o} to the {r}.", False,
                                "move (object) to (receptacle):  place an object in or on a receptacle"))
SYNTAXES.register("0.3", Syntax("0.3", "put {o} in/on {r}", "You put the {o} in/on the {r}.", True,
                                "put (object) in/on (receptacle):  place an object in or on a receptacle"))


# examineObject's state rules in the grammar's order: (condition on clean, hot, cool, sliced; adjective).
_EXAMINE_RULES = (
    (lambda c, h, k, s: c and h and s, "hot and clean sliced"),
    (lambda c, h, k, s: c and k and s, "cool and clean sliced"),
    (lambda c, h, k, s: c and s, "clean sliced"),
    (lambda c, h, k, s: h and s, "hot sliced"),
    (lambda c, h, k, s: k and s, "cool sliced"),
    (lambda c, h, k, s: c and h, "hot and clean"),
    (lambda c, h, k, s: c and k, "cool and clean"),
    (lambda c, h, k, s: h, "hot"),
    (lambda c, h, k, s: c, "clean"),
    (lambda c, h, k, s: k, "cold"),  # the grammar says "cold" only here
    (lambda c, h, k, s: s, "sliced"),
)


class Layout:
    """Static facts of one task, with receptacles and objects in the engine's id order."""

    def __init__(self, task: Mapping[str, Any], syntax: str = "0.4"):
        self.syntax = SYNTAXES.get(syntax)
        self.task = task
        recs = sorted(task["receptacles"], key=lambda r: sort_key(r["id"]))
        objs = sorted(task["objects"], key=lambda o: sort_key(o["id"]))
        locs = list(task["locations"])
        names = display_names([r["id"] for r in recs] + [o["id"] for o in objs] + locs)
        self.loc_names = [names[x] for x in locs]
        self.start = locs.index(task["start"])
        rix = {r["id"]: i for i, r in enumerate(recs)}
        self.r_name = [names[r["id"]] for r in recs]
        self.r_cls = [r["cls"] for r in recs]
        self.r_loc = [locs.index(r["loc"]) for r in recs]
        self.r_openable = [bool(r.get("openable")) for r in recs]
        self.r_opened0 = [bool(r.get("opened")) for r in recs]
        self.o_name = [names[o["id"]] for o in objs]
        self.o_a = ["a " + n for n in self.o_name]
        self.o_cls = [o["cls"] for o in objs]
        self.o_in0 = [rix[o["in"]] for o in objs]
        self.o_state0 = [frozenset(o.get("state", ())) for o in objs]
        c = self.o_cls
        self.pickupable = [x not in NOT_PICKUPABLE for x in c]
        self.heatable = [x in HEATABLE for x in c]
        self.coolable = [x in COOLABLE for x in c]
        self.cleanable = [x in CLEANABLE for x in c]
        self.toggleable = [x in TOGGLEABLE for x in c]
        self.sliceable = [x in SLICEABLE for x in c]
        self.is_knife = [x in KNIVES for x in c]
        self.is_recep_obj = [x in RECEPTACLE_OBJECTS for x in c]
        self.at_loc: list[list[int]] = [[] for _ in locs]
        for i, loc in enumerate(self.r_loc):
            self.at_loc[loc].append(i)
        # Static command families per location: go-tos (never to the current pose, quirk Q2), examines.
        self.goto = [[(f"go to {self.r_name[r]}", r) for r in range(len(recs)) if self.r_loc[r] != loc]
                     for loc in range(len(locs))]
        self.facing = [f"You are facing the {join_list([self.r_name[r] for r in rs])}. Next to it, you see "
                       for rs in self.at_loc]
        self.accepts = [[o_cls in CAN_CONTAIN.get(r_cls, ()) for o_cls in c] for r_cls in self.r_cls]
        goal = task["goal"]
        self.task_type = task["task_type"]
        self.goal_text = task["goal_text"]
        self.target_objs = [i for i, x in enumerate(c) if x == goal["obj"]]
        self.target_recs = frozenset(i for i, x in enumerate(self.r_cls) if x == goal.get("recep"))
        self.lamps = [i for i, x in enumerate(c) if x == goal.get("toggle") and self.toggleable[i]]
        self.intro_look = ("You are in the middle of a room. Looking quickly around you, you see "
                           + join_list(["a " + n for n in self.r_name]) + ".")
        self.help_text = HELP_TEXT.format(put_help=self.syntax.put_help)


class World:
    """One episode's state. ``execute(command)`` applies an admissible command and returns its feedback."""

    def __init__(self, layout: Layout):
        self.L = L = layout
        self.loc = L.start
        self.held = -1
        self.obj_in = list(L.o_in0)              # receptacle index, -1 while held
        self.obj_at = [L.r_loc[r] for r in L.o_in0]  # objectAtLocation, -1 while held
        self.opened = list(L.r_opened0)
        self.contents = [[] for _ in L.r_name]
        for o, r in enumerate(L.o_in0):
            self.contents[r].append(o)           # objects are in id order, so contents stay sorted
        st = L.o_state0
        self.hot = {o for o, s in enumerate(st) if "isHot" in s}
        self.cool = {o for o, s in enumerate(st) if "isCool" in s}
        self.clean = {o for o, s in enumerate(st) if "isClean" in s}
        self.sliced = {o for o, s in enumerate(st) if "isSliced" in s}
        self.on = {o for o, s in enumerate(st) if "isOn" in s}
        self.toggled: set[int] = set()
        self.taken_from: list[set[int]] = [set() for _ in L.o_name]  # negative inReceptacle facts
        self.version = 0
        self._cmds: dict[str, tuple] | None = None
        self._sorted: list[str] | None = None

    # -- admissible commands ---------------------------------------------------------------------------
    def commands(self) -> dict[str, tuple]:
        if self._cmds is None:
            self._cmds = self._build_commands()
            self._sorted = None
        return self._cmds

    def admissible(self) -> list[str]:
        if self._cmds is None or self._sorted is None:
            self._sorted = sorted(self.commands())
        return self._sorted

    def _build_commands(self) -> dict[str, tuple]:
        L, loc, held = self.L, self.loc, self.held
        cmds: dict[str, tuple] = {"look": ("look",), "inventory": ("inventory",), "help": ("help",)}
        for text, r in L.goto[loc]:
            cmds[text] = ("goto", r)
        put_cmd = L.syntax.put_cmd
        for r in L.at_loc[loc]:
            rn = L.r_name[r]
            cmds["examine " + rn] = ("examine_r", r)
            usable = not L.r_openable[r] or self.opened[r]
            if L.r_openable[r]:
                verb = "close" if self.opened[r] else "open"
                cmds[f"{verb} {rn}"] = (verb, r)
            for o in self.contents[r]:
                if L.toggleable[o]:
                    cmds["use " + L.o_name[o]] = ("use", o)
                if held < 0 and usable and L.pickupable[o]:
                    cmds[f"take {L.o_name[o]} from {rn}"] = ("take", o, r)
            if held >= 0:
                cls = L.r_cls[r]
                on = L.o_name[held]
                if usable and L.accepts[r][held]:
                    cmds[put_cmd.format(o=on, r=rn)] = ("put", held, r)
                if cls == "Microwave" and L.heatable[held]:
                    cmds[f"heat {on} with {rn}"] = ("heat", held, r)
                elif cls == "Fridge" and L.coolable[held]:
                    cmds[f"cool {on} with {rn}"] = ("cool", held, r)
                elif cls == "SinkBasin" and L.cleanable[held]:
                    cmds[f"clean {on} with {rn}"] = ("clean", held, r)
        if held >= 0:
            cmds["examine " + L.o_name[held]] = ("examine_o", held)
            if L.is_knife[held]:
                for co, at in enumerate(self.obj_at):
                    if at == loc and L.sliceable[co]:
                        cmds[f"slice {L.o_name[co]} with {L.o_name[held]}"] = ("slice", co, held)
        return cmds

    def _changed(self) -> None:
        self.version += 1
        self._cmds = None
        self._sorted = None

    # -- texts -----------------------------------------------------------------------------------------
    def examine_receptacle(self, r: int) -> str:
        L = self.L
        rn = L.r_name[r]
        if L.r_openable[r]:
            if not self.opened[r]:
                return f"The {rn} is closed."
            return f"The {rn} is open. In it, you see {join_list([L.o_a[o] for o in self.contents[r]])}."
        return f"On the {rn}, you see {join_list([L.o_a[o] for o in self.contents[r]])}."

    def examine_object(self, o: int) -> str:
        """The grammar's rules, first match wins (as in ALFWorld's alfred.twl2)."""
        n = self.L.o_name[o]
        if self.L.is_recep_obj[o]:
            return f"This is a normal {n}. In it, you see nothing."  # quirk Q4: hides hot/cool/clean
        clean, hot, cool, sliced = o in self.clean, o in self.hot, o in self.cool, o in self.sliced
        for cond, adj in _EXAMINE_RULES:
            if cond(clean, hot, cool, sliced):
                return f"This is a {adj} {n}."
        if self.L.toggleable[o] and o in self.toggled:
            return f"This {n} is on."
        return f"There's nothing special about {n}."

    def look(self) -> str:
        L, loc = self.L, self.loc
        recs = L.at_loc[loc]
        if not recs:
            return "You are in the middle of a room. Looking quickly around you, you see nothing."
        here = set(recs)
        # One entry per (object, receptacle here it was taken from): TextWorld lists query assignments, so an
        # object taken from two receptacles of this pose is listed twice.
        floor = [L.o_a[o] for o, at in enumerate(self.obj_at) if at == loc and self.taken_from[o]
                 for _ in range(len(here & self.taken_from[o]))]
        return L.facing[loc] + join_list(floor) + "."

    def inventory(self) -> str:
        if self.held < 0:
            return "You are not carrying anything."
        return f"You are carrying: {self.L.o_a[self.held]}."

    def intro(self) -> str:
        look = self.L.intro_look if not self.L.at_loc[self.loc] else self.look()
        return f"{WELCOME}{look}\n\nYour task is to: {self.L.goal_text}."

    # -- transitions -----------------------------------------------------------------------------------
    def execute(self, command: str) -> str | None:
        """Apply ``command`` if admissible and return the feedback, else ``None`` (state unchanged)."""
        op = self.commands().get(command)
        if op is None:
            return None
        return getattr(self, "_op_" + op[0])(*op[1:])

    def _op_look(self) -> str:
        return self.look()

    def _op_inventory(self) -> str:
        return self.inventory()

    def _op_help(self) -> str:
        return self.L.help_text

    def _op_examine_r(self, r: int) -> str:
        return self.examine_receptacle(r)

    def _op_examine_o(self, o: int) -> str:
        return self.examine_object(o)

    def _op_goto(self, r: int) -> str:
        L = self.L
        self.loc = L.r_loc[r]
        self._changed()
        where = L.loc_names[self.loc] if L.syntax.arrive_at_loc else L.r_name[r]
        return f"You arrive at {where}. {self.examine_receptacle(r)}"

    def _op_open(self, r: int) -> str:
        self.opened[r] = True
        self._changed()
        return f"You open the {self.L.r_name[r]}. {self.examine_receptacle(r)}"

    def _op_close(self, r: int) -> str:
        self.opened[r] = False
        self._changed()
        return f"You close the {self.L.r_name[r]}."

    def _op_take(self, o: int, r: int) -> str:
        self.contents[r].remove(o)
        self.obj_in[o], self.obj_at[o], self.held = -1, -1, o
        self.taken_from[o].add(r)
        self._changed()
        return f"You pick up the {self.L.o_name[o]} from the {self.L.r_name[r]}."

    def _op_put(self, o: int, r: int) -> str:
        c = self.contents[r]
        c.append(o)
        c.sort()
        self.obj_in[o], self.obj_at[o], self.held = r, self.loc, -1
        self.taken_from[o].discard(r)
        self._changed()
        return self.L.syntax.put_text.format(o=self.L.o_name[o], r=self.L.r_name[r])

    def _op_heat(self, o: int, r: int) -> str:
        self.hot.add(o)
        self.cool.discard(o)
        self.version += 1  # the command list is unchanged: no rebuild needed
        return f"You heat the {self.L.o_name[o]} using the {self.L.r_name[r]}."

    def _op_cool(self, o: int, r: int) -> str:
        self.cool.add(o)
        self.hot.discard(o)
        self.version += 1
        return f"You cool the {self.L.o_name[o]} using the {self.L.r_name[r]}."

    def _op_clean(self, o: int, r: int) -> str:
        self.clean.add(o)
        self.version += 1
        return f"You clean the {self.L.o_name[o]} using the {self.L.r_name[r]}."

    def _op_use(self, o: int) -> str:
        self.on ^= {o}
        self.toggled.add(o)
        self.version += 1
        return f"You turn on the {self.L.o_name[o]}."  # quirk Q5: isToggled stays true

    def _op_slice(self, co: int, ko: int) -> str:
        self.sliced.add(co)
        self.version += 1
        return f"You sliced the {self.L.o_name[co]} with the {self.L.o_name[ko]}."

    # -- goal ------------------------------------------------------------------------------------------
    def goal_reached(self) -> bool:
        L, t = self.L, self.L.task_type
        if t == "look_at_obj_in_light":
            if self.held < 0 or self.held not in L.target_objs:
                return False
            return any(lamp in self.toggled and self.obj_in[lamp] >= 0
                       and L.r_loc[self.obj_in[lamp]] == self.loc
                       for lamp in L.lamps)
        need = {"pick_clean_then_place_in_recep": self.clean, "pick_heat_then_place_in_recep": self.hot,
                "pick_cool_then_place_in_recep": self.cool}.get(t)
        placed = [o for o in L.target_objs if self.obj_in[o] in L.target_recs and (need is None or o in need)]
        if t == "pick_two_obj_and_place":
            rs = [self.obj_in[o] for o in placed]
            return len(rs) != len(set(rs))
        return bool(placed)
