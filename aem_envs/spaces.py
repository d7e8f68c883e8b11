"""A permissive text space for LLM observations and actions.

gymnasium's ``spaces.Text`` only accepts characters from a fixed charset (alphanumerics by default), so
ordinary model output such as ``"take mug 1 from countertop 2."`` is "outside the action space" and
``check_env`` complains. ``Unicode`` accepts any ``str`` up to ``max_length`` characters.

``gymnasium.vector.AsyncVectorEnv`` with its default ``shared_memory=True`` stores observations in shared
arrays; gymnasium's ``Text`` layout keeps charset indices padded with index 0 (so a character outside the
charset is a ``KeyError`` in the worker and every string comes back padded to ``max_length``). ``Unicode``
registers its own layout: per env a length followed by the code points (4 bytes per character of
``max_length``), so any string round-trips exactly. gymnasium reads the buffer once, at construction, and
expects a live view (numpy arrays are); ``UnicodeBatch`` is that view for strings, and a copy of it (what
``AsyncVectorEnv`` returns by default, ``copy=True``) is a plain tuple of ``str``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import shared_memory as _shm

_PRINTABLE = np.array(list(" abcdefghijklmnopqrstuvwxyz"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?'\"-_()[]<>/"))


class Unicode(spaces.Text):
    """Any Python string of at most ``max_length`` characters (``min_length`` at least)."""

    def __init__(self, max_length: int = 1 << 20, *, min_length: int = 0, seed: Any = None):
        super().__init__(max_length=max_length, min_length=min_length, charset="".join(_PRINTABLE), seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """A random printable string (short, so sampling stays cheap)."""
        n = int(self.np_random.integers(self.min_length, min(self.max_length, 64) + 1))
        return "".join(self.np_random.choice(_PRINTABLE, size=n))

    def __repr__(self) -> str:
        return f"Unicode(min_length={self.min_length}, max_length={self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, Unicode)
                and (self.min_length, self.max_length) == (other.min_length, other.max_length))


# -- AsyncVectorEnv shared memory: [length, code point, code point, ...] per env ---------------------------
class UnicodeBatch(Sequence):
    """The strings in a shared buffer, decoded on access; ``copy``/``deepcopy``/pickle give a tuple."""

    def __init__(self, space: Unicode, memory: Any, n: int):
        self._rows = np.frombuffer(memory.get_obj(), dtype=np.int32).reshape((n, space.max_length + 1))

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self))))
        row = self._rows[i]
        return row[1:1 + int(row[0])].astype("<i4").tobytes().decode("utf-32-le", "surrogatepass")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and not isinstance(other, str) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]  # a live view: its content changes

    def __repr__(self) -> str:
        return repr(tuple(self))

    def __copy__(self) -> tuple[str, ...]:
        return tuple(self)

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __reduce__(self) -> tuple:
        return (tuple, (tuple(self),))


@_shm.create_shared_memory.register(Unicode)
def _create_unicode_memory(space: Unicode, n: int = 1, ctx: Any = None) -> Any:
    import multiprocessing

    return (ctx or multiprocessing).Array(np.dtype(np.int32).char, n * (space.max_length + 1))


@_shm.write_to_shared_memory.register(Unicode)
def _write_unicode_memory(space: Unicode, index: int, value: str, memory: Any) -> None:
    if not space.contains(value):
        raise ValueError(f"observation is not a string of at most {space.max_length} characters "
                         f"({type(value).__name__} of length "
                         f"{len(value) if isinstance(value, str) else '?'})")
    dest = np.frombuffer(memory.get_obj(), dtype=np.int32)
    start = index * (space.max_length + 1)
    points = np.frombuffer(value.encode("utf-32-le", "surrogatepass"), dtype="<i4")
    dest[start] = len(points)
    dest[start + 1:start + 1 + len(points)] = points


@_shm.read_from_shared_memory.register(Unicode)
def _read_unicode_memory(space: Unicode, memory: Any, n: int = 1) -> UnicodeBatch:
    return UnicodeBatch(space, memory, n)
