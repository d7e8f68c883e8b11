"""ALFRED ids, their PDDL (mangled) form and ALFWorld's display names.

ALFRED ids look like ``Apple|-01.65|+00.81|+00.35``; ALFWorld's PDDL writes them mangled
(``apple_bar__minus_01_dot_65_bar__plus_00_dot_81_bar__plus_00_dot_35`` once Fast Downward lower-cases
them) and its demangler numbers every display name by sorting those ids as plain strings: the first gets
the highest number. Every list the engine prints follows the same id order, so the mangled id is also
our sort key.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

_MANGLE = (("-", "_minus_"), ("|", "_bar_"), ("+", "_plus_"), (".", "_dot_"), (",", "_comma_"))


def mangle(alfred_id: str) -> str:
    """``Apple|-01.65|...`` -> ``Apple_bar__minus_01_dot_65_...`` (case kept; FD lower-cases it)."""
    for a, b in _MANGLE:
        alfred_id = alfred_id.replace(a, b)
    return alfred_id


def sort_key(alfred_id: str) -> str:
    """The id as the real engine sees and sorts it."""
    return mangle(alfred_id).lower()


def display_class(alfred_id: str) -> str:
    """Lower-cased class, with ``basin`` appended for sink/bathtub basins (``sinkbasin``)."""
    key = sort_key(alfred_id)
    name = key.split("_bar_", 1)[0]
    return name + "basin" if "basin" in key else name


def display_names(alfred_ids: Iterable[str]) -> dict[str, str]:
    """ALFWorld's numbering over every id of one game: ``{alfred_id: "apple 2", ...}``."""
    ids = list(alfred_ids)
    by_key = sorted(ids, key=sort_key)
    counts = Counter(display_class(i) for i in ids)
    used: dict[str, int] = defaultdict(int)
    out = {}
    for i in by_key:
        cls = display_class(i)
        out[i] = f"{cls} {counts[cls] - used[cls]}"
        used[cls] += 1
    return out


def join_list(items: list[str]) -> str:
    """TextWorld's list rendering: ``nothing`` / ``X`` / ``X, and Y`` / ``X, Y, and Z``."""
    if not items:
        return "nothing"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + ", and " + items[-1]
