"""A permissive text space for LLM observations and actions.

gymnasium's ``spaces.Text`` only accepts characters from a fixed charset (alphanumerics by default), so
ordinary model output such as ``"take mug 1 from countertop 2."`` is "outside the action space" and
``check_env`` complains. ``Unicode`` accepts any ``str`` up to ``max_length`` characters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

_PRINTABLE = np.array(list(" abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?'\"-_()[]<>/"))


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
        return isinstance(other, Unicode) and (self.min_length, self.max_length) == (other.min_length, other.max_length)
