"""Default task subsets, stratified: N tasks of a split that cover its task types (docs/subsets.md).

Task files keep a split in a fixed order, and that order often groups tasks by type (the household
manifest lists every ``pick_and_place_simple`` task first), so "the first N tasks" can measure a single
type. ``stratified_order`` orders a split by round robin over its strata instead:

1. each task's stratum is a tuple of labels (``TextEnv.task_stratum``: the task type; the software repair
   env adds the repository); tasks are grouped by the first label, groups taken in sorted label order;
2. within a group, tasks are ordered the same way by the next label (recursively), and in the split's
   stored order once the labels are used up;
3. the order is group 1's first task, group 2's first, ..., then each group's second task, and so on; a
   group that runs out is skipped.

The default subset of N tasks is the first N of that order (``default_subset``). It depends only on the
task records (no RNG, no hashing of Python objects), so it is the same on every machine, day and
``PYTHONHASHSEED``; for N at least the number of types every type appears, type counts differ by at most
one while no type has run out, and the subset of N is a prefix of the subset of N + 1.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any


def stratified_order(ids: Sequence[str], stratum: Callable[[str], Sequence[Hashable]]) -> list[str]:
    """``ids`` reordered by round robin over their strata (see the module docstring)."""
    keyed = [(tuple(str(x) for x in stratum(i)), i) for i in ids]
    return _round_robin(keyed, 0)


def _round_robin(keyed: list[tuple[tuple[str, ...], str]], depth: int) -> list[str]:
    groups: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    leaves: list[str] = []
    for key, i in keyed:
        if depth < len(key):
            groups.setdefault(key[depth], []).append((key, i))
        else:
            leaves.append(i)
    if not groups:
        return leaves
    queues = [_round_robin(groups[label], depth + 1) for label in sorted(groups)]
    if leaves:  # ids whose stratum is shorter than the others' form a group of their own, taken last
        queues.append(leaves)
    out: list[str] = []
    for rank in range(max(len(q) for q in queues)):
        out.extend(q[rank] for q in queues if rank < len(q))
    return out


def split_order(env: Any, split: str) -> list[str]:
    """Every id of ``split`` of a made ``TextEnv`` (or a wrapper of one), in stratified order."""
    core = env.unwrapped
    tasks = core.tasks
    stratum = getattr(core, "task_stratum", None)
    if stratum is None:  # not a TextEnv: one stratum, the stored order
        return list(tasks.ids(split))
    return stratified_order(tasks.ids(split), lambda i: stratum(tasks.get(i)))


def default_subset(env: Any, split: str, n: int | None) -> list[str]:
    """The first ``n`` ids of ``split_order`` (the whole split when ``n`` is None or 0)."""
    if n is not None and n < 0:
        raise ValueError(f"a subset needs n >= 0 tasks, got {n}")
    order = split_order(env, split)
    return order[:n] if n else order
