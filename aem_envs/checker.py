"""The text-aware env checker: ``aem_envs.check(env_or_id)`` and ``aem check ENV_ID``.

Runs gymnasium's ``check_env`` and then what it cannot see in a text env:

* ``info_keys``     reset and step infos carry ``instance_id``, ``task_type``, ``won``, ``is_action_valid``;
* ``determinism``   two fresh copies, same seeds and same actions → same task, observations, rewards and
                    infos; once one after the other and once concurrently in two threads;
* ``admissible``    every listed admissible action (up to a bound, along a seeded random walk) is accepted
                    as valid when taken from that state;
* ``fuzz``          random and hostile actions (empty, whitespace, control characters, lone surrogates,
                    1 MB of text, non-strings) never raise and always give a well-formed step;
* ``close``         ``close()`` twice raises nothing.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from gymnasium.utils.env_checker import check_env

from aem_envs.core import REQUIRED_INFO_KEYS
from aem_envs.error import CheckFailed

_COMPARED_INFO = ("instance_id", "task_type", "won", "is_action_valid", "admissible_actions")
HOSTILE_ACTIONS: tuple[Any, ...] = (
    "", " ", "\n\n\t", "\x00\x01\x02\x1b[31m", "\ud800 lone surrogate", "🍎🥄 take apple 1 ‮reversed",
    "x" * (1 << 20), "look" * 10_000, "<action>look</action>", "search[" + "]" * 50, "click[",
    None, 42, b"look",
)


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class CheckReport:
    env_id: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    def __str__(self) -> str:
        lines = [f"aem check {self.env_id}: {'PASS' if self.ok else 'FAIL'}"]
        for r in self.results:
            lines.append(f"  [{'ok' if r.ok else 'FAIL'}] {r.name}" + (f": {r.detail}" if r.detail else ""))
        return "\n".join(lines)


def _snapshot(step: tuple) -> tuple:
    if len(step) == 2:  # reset
        obs, info = step
        return obs, tuple((k, repr(info.get(k))) for k in _COMPARED_INFO)
    obs, reward, terminated, truncated, info = step
    return (obs, float(reward), bool(terminated), bool(truncated),
            tuple((k, repr(info.get(k))) for k in _COMPARED_INFO))


def _actions_for(info: dict[str, Any], rng: random.Random) -> str:
    acts = info.get("admissible_actions")
    if acts:
        return acts[rng.randrange(len(acts))]
    return rng.choice(["look", "help", "inventory", "search[shoes]", "click[back]", "submit"])


def _play(env: gym.Env, seed: int, steps: int) -> list[tuple]:
    """Reset with ``seed`` and take ``steps`` actions drawn from a seeded RNG; return the snapshots."""
    rng = random.Random(seed)
    out = []
    first = env.reset(seed=seed)
    out.append(_snapshot(first))
    info = first[1]
    for _ in range(steps):
        step = env.step(_actions_for(info, rng))
        out.append(_snapshot(step))
        info = step[4]
        if step[2] or step[3]:
            break
    return out


class _Checker:
    def __init__(self, env: gym.Env, factory: Callable[[], gym.Env] | None, seed: int, steps: int,
                 max_admissible: int, fuzz: int):
        self.env, self.factory, self.seed = env, factory, seed
        self.steps, self.max_admissible, self.fuzz = steps, max_admissible, fuzz

    def gymnasium(self) -> str:
        check_env(self.env.unwrapped, skip_render_check=True)
        return "gymnasium.utils.check_env passed"

    def info_keys(self) -> str:
        _, info = self.env.reset(seed=self.seed)
        missing = [k for k in REQUIRED_INFO_KEYS if k not in info]
        assert not missing, f"reset info lacks {missing}"
        step = self.env.step(_actions_for(info, random.Random(self.seed)))
        missing = [k for k in REQUIRED_INFO_KEYS if k not in step[4]]
        assert not missing, f"step info lacks {missing}"
        return "reset and step infos carry " + ", ".join(REQUIRED_INFO_KEYS)

    def determinism(self) -> str:
        if self.factory is None:
            return "skipped: the env has no spec to make a copy from (pass env_fn=)"
        seeds = [self.seed, self.seed + 1, self.seed + 2]
        a, b = self.factory(), self.factory()
        try:
            serial_a = [_play(a, s, self.steps) for s in seeds]
            serial_b = [_play(b, s, self.steps) for s in seeds]
            assert serial_a == serial_b, (
                f"two copies diverge for seeds {seeds}: {_first_diff(serial_a, serial_b)}")
            with ThreadPoolExecutor(2) as pool:
                fa = pool.submit(lambda: [_play(a, s, self.steps) for s in seeds])
                fb = pool.submit(lambda: [_play(b, s, self.steps) for s in seeds])
                threaded = [fa.result(), fb.result()]
            assert threaded[0] == serial_a and threaded[1] == serial_a, "copies run in threads diverge"
            tasks = {run[0][1] for run in serial_a}
        finally:
            a.close()
            b.close()
        return (f"seeds {seeds}: identical episodes serially and in 2 threads "
                f"({len(tasks)} distinct task infos)")

    def admissible(self) -> str:
        if self.factory is None:
            return "skipped: the env has no spec to make a copy from (pass env_fn=)"
        rng = random.Random(self.seed)
        walk_env, probe = self.factory(), self.factory()
        checked, prefix = 0, []
        try:
            obs, info = walk_env.reset(seed=self.seed)
            for _ in range(self.steps):
                acts = info.get("admissible_actions")
                if acts is None:
                    return "skipped: the env does not list admissible actions"
                sample = rng.sample(acts, min(len(acts), self.max_admissible))
                for act in sample:
                    probe.reset(seed=self.seed)
                    for p in prefix:
                        probe.step(p)
                    res = probe.step(act)
                    assert res[4].get("is_action_valid") is True, (
                        f"admissible action {act!r} after {prefix} was judged invalid: {res[0][:200]!r}")
                    checked += 1
                act = acts[rng.randrange(len(acts))]
                prefix.append(act)
                obs, _, term, trunc, info = walk_env.step(act)
                if term or trunc:
                    break
        finally:
            walk_env.close()
            probe.close()
        return f"{checked} admissible actions over {len(prefix)} states accepted as valid"

    def fuzz_actions(self) -> str:
        rng = random.Random(self.seed)
        actions = list(HOSTILE_ACTIONS)
        for _ in range(self.fuzz):
            n = rng.choice([0, 1, 3, 10, 40, 200])
            actions.append("".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x2FFFF)]))
                                   for _ in range(n)))
        _, info = self.env.reset(seed=self.seed)
        invalid = 0
        for act in actions:
            obs, reward, term, trunc, info = self.env.step(act)
            assert isinstance(obs, str), f"observation after {act!r:.40} is {type(obs).__name__}, not str"
            assert all(k in info for k in REQUIRED_INFO_KEYS), f"info after {act!r:.40} lacks required keys"
            float(reward)
            invalid += not info["is_action_valid"]
            if term or trunc:
                self.env.reset(seed=self.seed)
        return f"{len(actions)} hostile/random actions, no exception ({invalid} judged invalid)"

    def close(self) -> str:
        if self.factory is None:
            return "skipped: needs a copy to close"
        e = self.factory()
        e.reset(seed=self.seed)
        e.close()
        e.close()
        return "close() twice raised nothing"


def _first_diff(a: list, b: list) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            for j, (s, t) in enumerate(zip(x, y, strict=False)):
                if s != t:
                    return f"seed #{i}, step {j}: {str(s)[:200]} != {str(t)[:200]}"
    return "different lengths"


def check(env: gym.Env | str, *, env_fn: Callable[[], gym.Env] | None = None, seed: int = 0, steps: int = 6,
          max_admissible: int = 12, fuzz: int = 48, raise_on_error: bool = True,
          **make_kwargs: Any) -> CheckReport:
    """Check an env (or an env id) against the text-env contract; see the module docstring.

    Returns a ``CheckReport``; with ``raise_on_error`` a failed check raises ``CheckFailed`` whose message
    is the whole report.
    """
    from aem_envs.registration import make

    if isinstance(env, str):
        env_id = env
        factory = env_fn or (lambda: make(env_id, **make_kwargs))
        target = factory()
    else:
        target = env
        spec = getattr(env, "spec", None)
        env_id = spec.id if spec is not None else type(env.unwrapped).__name__
        factory = env_fn or ((lambda: gym.make(spec)) if spec is not None else None)
    c = _Checker(target, factory, seed, steps, max_admissible, fuzz)
    report = CheckReport(env_id)
    for name, fn in [("gymnasium", c.gymnasium), ("info_keys", c.info_keys), ("determinism", c.determinism),
                     ("admissible", c.admissible), ("fuzz", c.fuzz_actions), ("close", c.close)]:
        try:
            report.results.append(CheckResult(name, True, fn()))
        except Exception as e:  # every check runs, and the report says what broke
            tb = traceback.extract_tb(e.__traceback__)[-1]
            report.results.append(CheckResult(name, False,
                                              f"{type(e).__name__}: {e} (at {tb.filename}:{tb.lineno})"))
    if isinstance(env, str):
        target.close()
    if raise_on_error and not report.ok:
        raise CheckFailed(str(report))
    return report
