"""Classes, affordances and the "may be put in" table of the household world.

The affordance sets and the receptacle table follow ALFWorld's ``alfworld/gen/constants.py``
(``VAL_ACTION_OBJECTS``, ``VAL_RECEPTACLE_OBJECTS``), restricted to the classes our generator uses, so a
generated problem behaves the same on the real engine. ALFRED class names (``CounterTop``) are kept here;
the text shows them lower-cased (``countertop``).
"""

from __future__ import annotations

TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)

# The two goal templates per type (ALFWorld picks one at random when a game file is generated).
GOAL_TEMPLATES = {
    "pick_and_place_simple": ("put a {obj} in {recep}", "put some {obj} on {recep}"),
    "look_at_obj_in_light": ("look at {obj} under the {toggle}", "examine the {obj} with the {toggle}"),
    "pick_clean_then_place_in_recep": ("put a clean {obj} in {recep}",
                                       "clean some {obj} and put it in {recep}"),
    "pick_heat_then_place_in_recep": ("put a hot {obj} in {recep}", "heat some {obj} and put it in {recep}"),
    "pick_cool_then_place_in_recep": ("put a cool {obj} in {recep}", "cool some {obj} and put it in {recep}"),
    "pick_two_obj_and_place": ("put two {obj} in {recep}", "find two {obj} and put them in {recep}"),
}

HEATABLE = frozenset({"Apple", "Bread", "Cup", "Egg", "Mug", "Plate", "Potato", "Tomato"})
COOLABLE = frozenset({"Apple", "Bowl", "Bread", "Cup", "Egg", "Lettuce", "Mug", "Pan", "Plate", "Pot",
                      "Potato", "Tomato", "WineBottle"})
CLEANABLE = frozenset({"Apple", "Bowl", "ButterKnife", "Cloth", "Cup", "DishSponge", "Egg", "Fork", "Kettle",
                       "Knife", "Ladle", "Lettuce", "Mug", "Pan", "Plate", "Pot", "Potato", "SoapBar",
                       "Spatula", "Spoon", "Tomato"})
TOGGLEABLE = frozenset({"DeskLamp", "FloorLamp"})
SLICEABLE = frozenset({"Apple", "Bread", "Egg", "Lettuce", "Potato", "Tomato"})
KNIVES = frozenset({"Knife", "ButterKnife"})
# Movable receptacles: objects in PDDL, `isReceptacleObject`, and `examine` says "This is a normal mug 1."
RECEPTACLE_OBJECTS = frozenset({"Bowl", "Box", "Cup", "Mug", "Pan", "Plate", "Pot"})
NOT_PICKUPABLE = frozenset({"DeskLamp", "FloorLamp"})
OPENABLE = frozenset({"Cabinet", "Drawer", "Fridge", "Microwave", "Safe"})

# Which object classes each receptacle class accepts (`canContain`); only PutObject consults it.
_SURFACE = frozenset({
    "AlarmClock", "Apple", "Book", "Bowl", "Box", "Bread", "ButterKnife", "CD", "Candle", "CellPhone",
    "Cloth", "CreditCard", "Cup", "DishSponge", "Egg", "Fork", "Kettle", "KeyChain", "Knife", "Ladle",
    "Laptop", "Lettuce", "Mug", "Newspaper", "Pan", "Pen", "Pencil", "PepperShaker", "Plate", "Pot", "Potato",
    "RemoteControl", "SaltShaker", "SoapBar", "SoapBottle", "Spatula", "Spoon", "SprayBottle", "Statue",
    "ToiletPaper", "Tomato", "Vase", "Watch", "WineBottle"})
_SEAT = frozenset({"Book", "Box", "CellPhone", "Cloth", "CreditCard", "KeyChain", "Laptop", "Newspaper",
                   "Pillow", "RemoteControl"})
_DESK = frozenset({"AlarmClock", "Book", "Bowl", "Box", "CD", "Candle", "CellPhone", "Cloth", "CreditCard",
                   "Cup", "KeyChain", "Laptop", "Mug", "Newspaper", "Pen", "Pencil", "Plate", "RemoteControl",
                   "SprayBottle", "Statue", "ToiletPaper", "Vase", "Watch", "WineBottle"})
CAN_CONTAIN: dict[str, frozenset[str]] = {
    "CounterTop": _SURFACE, "DiningTable": _SURFACE, "SideTable": _SURFACE, "CoffeeTable": _SURFACE,
    "ArmChair": _SEAT, "Sofa": _SEAT,
    "Bed": frozenset({"Book", "CellPhone", "Laptop", "Newspaper", "Pillow"}),
    "Desk": _DESK | {"SoapBottle"},
    "Dresser": _DESK,
    "Cabinet": frozenset({"Book", "Bowl", "Box", "CD", "Candle", "Cloth", "Cup", "DishSponge", "Kettle",
                          "Ladle", "Mug", "Newspaper", "Pan", "PepperShaker", "Plate", "Pot", "SaltShaker",
                          "SoapBar", "SoapBottle", "SprayBottle", "ToiletPaper", "Vase", "WineBottle"}),
    "Drawer": frozenset({"Book", "ButterKnife", "CD", "Candle", "CellPhone", "Cloth", "CreditCard",
                         "DishSponge", "Fork", "KeyChain", "Knife", "Ladle", "Newspaper", "Pen", "Pencil",
                         "PepperShaker", "RemoteControl", "SaltShaker", "SoapBar", "SoapBottle", "Spatula",
                         "Spoon", "SprayBottle", "ToiletPaper", "Watch"}),
    "Shelf": frozenset({"AlarmClock", "Book", "Bowl", "Box", "CD", "Candle", "CellPhone", "Cloth",
                        "CreditCard", "Cup", "DishSponge", "Kettle", "KeyChain", "Mug", "Newspaper", "Pen",
                        "Pencil", "PepperShaker", "Plate", "Pot", "RemoteControl", "SaltShaker", "SoapBar",
                        "SoapBottle", "SprayBottle", "Statue", "ToiletPaper", "Vase", "Watch", "WineBottle"}),
    "Fridge": frozenset({"Apple", "Bowl", "Bread", "Cup", "Egg", "Lettuce", "Mug", "Pan", "Plate", "Pot",
                         "Potato", "Tomato", "WineBottle"}),
    "Microwave": frozenset({"Apple", "Bowl", "Bread", "Cup", "Egg", "Mug", "Plate", "Potato", "Tomato"}),
    "SinkBasin": frozenset({"Apple", "Bowl", "ButterKnife", "Cloth", "Cup", "DishSponge", "Egg", "Fork",
                            "Kettle", "Knife", "Ladle", "Lettuce", "Mug", "Pan", "Plate", "Pot", "Potato",
                            "SoapBar", "Spatula", "Spoon", "Tomato"}),
    "BathtubBasin": frozenset({"Cloth", "DishSponge", "SoapBar"}),
    "StoveBurner": frozenset({"Kettle", "Pan", "Pot"}),
    "CoffeeMachine": frozenset({"Mug"}),
    "Toaster": frozenset(),  # accepts only sliced bread, which is a separate class in ALFRED: nothing here
    "GarbageCan": frozenset({"Apple", "Bread", "CD", "Cloth", "DishSponge", "Egg", "Lettuce", "Newspaper",
                             "Pen", "Pencil", "Potato", "SoapBar", "SoapBottle", "SprayBottle", "ToiletPaper",
                             "Tomato", "WineBottle"}),
    "Safe": frozenset({"CD", "CellPhone", "CreditCard", "KeyChain", "Statue", "Vase", "Watch"}),
    "Toilet": frozenset({"Candle", "Cloth", "DishSponge", "Newspaper", "SoapBar", "SoapBottle", "SprayBottle",
                         "ToiletPaper"}),
    "ToiletPaperHanger": frozenset({"ToiletPaper"}),
}

# Rooms: receptacle classes with (min, max) counts, and the object classes that may appear.
ROOMS: dict[str, dict] = {
    "kitchen": {
        "receptacles": {"CounterTop": (1, 3), "Cabinet": (3, 9), "Drawer": (2, 6), "Fridge": (1, 1),
                        "Microwave": (1, 1), "SinkBasin": (1, 1), "StoveBurner": (2, 4),
                        "DiningTable": (0, 1), "CoffeeMachine": (1, 1), "Toaster": (0, 1),
                        "GarbageCan": (1, 1), "Shelf": (0, 2)},
        "objects": ["Apple", "Bread", "Egg", "Lettuce", "Potato", "Tomato", "Mug", "Cup", "Bowl", "Plate",
                    "Pan", "Pot", "Kettle", "Knife", "ButterKnife", "Fork", "Spoon", "Spatula", "Ladle",
                    "DishSponge", "SoapBottle", "SaltShaker", "PepperShaker", "WineBottle"],
    },
    "livingroom": {
        "receptacles": {"Sofa": (1, 1), "CoffeeTable": (1, 1), "SideTable": (1, 2), "ArmChair": (0, 2),
                        "Drawer": (1, 4), "Cabinet": (0, 4), "Dresser": (0, 1), "Shelf": (0, 3),
                        "GarbageCan": (1, 1), "Safe": (0, 1), "DiningTable": (0, 1)},
        "objects": ["RemoteControl", "Newspaper", "Statue", "Vase", "KeyChain", "CreditCard", "Box", "Laptop",
                    "Pillow", "Watch", "Book", "Plate", "Bowl", "CellPhone", "DeskLamp", "FloorLamp"],
    },
    "bedroom": {
        "receptacles": {"Bed": (1, 1), "Desk": (0, 1), "SideTable": (1, 2), "Dresser": (0, 1),
                        "Drawer": (2, 6), "Shelf": (0, 4), "Safe": (0, 1), "GarbageCan": (1, 1),
                        "ArmChair": (0, 1)},
        "objects": ["AlarmClock", "Book", "CD", "CellPhone", "CreditCard", "KeyChain", "Laptop", "Pen",
                    "Pencil", "Pillow", "Watch", "Mug", "Bowl", "Box", "Vase", "Statue", "DeskLamp"],
    },
    "bathroom": {
        "receptacles": {"CounterTop": (1, 1), "SinkBasin": (1, 2), "Cabinet": (2, 4), "Drawer": (0, 4),
                        "Toilet": (1, 1), "BathtubBasin": (0, 1), "GarbageCan": (1, 1), "Shelf": (0, 2),
                        "ToiletPaperHanger": (1, 1)},
        "objects": ["SoapBar", "Cloth", "ToiletPaper", "SprayBottle", "Candle", "SoapBottle", "DishSponge"],
    },
}
# ALFRED's floor-plan numbering: kitchens 1-30, living rooms 201-230, bedrooms 301-330, bathrooms 401-430.
ROOM_SCENES = {"kitchen": range(1, 31), "livingroom": range(201, 231), "bedroom": range(301, 331),
               "bathroom": range(401, 431)}
# Held out of train/valid_seen: the valid_unseen floor plans
# (ALFWorld's unseen rooms include 10, 219, 308, 424).
UNSEEN_SCENES = frozenset({10, 21, 219, 226, 308, 321, 413, 424})
LAMP_RECEPTACLES = ("Desk", "SideTable", "Dresser")

# Official per-type split sizes (ALFWorld paper); our splits mirror them.
SPLIT_SIZES = {
    "train": (790, 308, 650, 459, 533, 813),
    "valid_seen": (35, 13, 27, 16, 25, 24),
    "valid_unseen": (24, 18, 31, 23, 21, 17),
}


def can_contain(rcls: str, ocls: str) -> bool:
    return ocls in CAN_CONTAIN.get(rcls, ())
