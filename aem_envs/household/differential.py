"""Play the same command sequence on the native engine and on the real ALFWorld engine and diff them.

``run_pair(native, real, instance_id, rng, ...)`` resets both envs on one task and then, step by step,
picks a command (the oracle's, or with probability ``noise`` a random admissible one, or now and then a
command that is not admissible), sends it to both and records every difference in observation,
admissible commands, validity, reward and ``won``. ALFWorld is the reference: any difference is a bug of
the native engine (or of the PDDL writer). Used by the differential test and ``benchmarks/household.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INVALID_PROBES = ("go to nowhere 1", "Look", "take apple 1 from fridge 1", "put mug 1 in/on countertop 1")


@dataclass
class Mismatch:
    instance_id: str
    step: int
    action: str | None
    field: str
    native: Any
    real: Any

    def __str__(self) -> str:
        return (f"{self.instance_id} step {self.step} after {self.action!r}: {self.field} differs\n"
                f"  native: {self.native!r}\n  real:   {self.real!r}")


@dataclass
class PairResult:
    instance_id: str
    task_type: str
    actions: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    won: bool = False


def _diff(out: PairResult, step: int, action: str | None, a: tuple, b: tuple) -> None:
    names = (("observation", "reward", "terminated", "truncated", "info") if len(a) == 5
             else ("observation", "info"))
    for name, x, y in zip(names, a, b, strict=True):
        if name == "info":
            for key in ("admissible_actions", "won", "is_action_valid", "task_type", "goal"):
                if x.get(key) != y.get(key):
                    out.mismatches.append(Mismatch(out.instance_id, step, action, f"info[{key!r}]",
                                                   x.get(key), y.get(key)))
        elif name != "truncated" and x != y:
            out.mismatches.append(Mismatch(out.instance_id, step, action, name, x, y))


def run_pair(native: Any, real: Any, instance_id: str, rng: Any, noise: float = 0.3, invalid: float = 0.05,
             max_steps: int = 30) -> PairResult:
    """Drive ``native`` (HouseholdEnv) and ``real`` (ALFWorldEnv) with the same commands; ``rng`` is a
    ``random.Random``. Stops at a win, at ``max_steps`` or at the first mismatch."""
    n0 = native.reset(options={"instance_id": instance_id})
    r0 = real.reset(options={"instance_id": instance_id})
    out = PairResult(instance_id, n0[1]["task_type"])
    _diff(out, 0, None, n0, r0)
    info = n0[1]
    for step in range(1, max_steps + 1):
        if out.mismatches:
            break
        u = rng.random()
        if u < invalid:
            action = rng.choice(INVALID_PROBES)
        elif u < invalid + noise or native.oracle_action() is None:
            acts = info["admissible_actions"]
            action = acts[rng.randrange(len(acts))]
        else:
            action = native.oracle_action()
        out.actions.append(action)
        a, b = native.step(action), real.step(action)
        _diff(out, step, action, a, b)
        info = a[4]
        if a[2] or b[2]:
            break
    out.won = bool(info.get("won"))
    return out
