"""Upstream-backed envs beside our native ones: ``python -m benchmarks.upstream [--episodes N] [--steps N]``.

For each env id (through ``aem_envs.make``, i.e. with gymnasium's wrappers) it measures, in one run:

* start:  make + first reset (JVM / browser launch, game generation on a cold TextWorld cache);
* reset:  median seconds of a reset to another instance once started;
* step:   median seconds of a step, the actions being the env's oracle (its admissible actions or "look"
          where it has none), so the steps are meaningful ones;

and prints the ratio of each step median to the reference's (``aem/Household-v0``, the native household
engine, else the example plugin's env), measured in the same run. Envs whose package, Java or Chromium is
missing are listed as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

from tqdm import tqdm

REFERENCES = ("aem/Household-v0", "example/TreasureHunt-v0")
ROWS: list[tuple[str, dict]] = [
    ("aem/Household-v0", {}),
    ("aem/WebShop-v0", {}),
    ("example/TreasureHunt-v0", {}),
    ("aem/ScienceWorld-find-animal-v0", {}),
    ("aem/ScienceWorld-find-animal-v0", {"admissible_actions": True}),
    ("aem/ScienceWorld-boil-v0", {}),
    ("aem/TWX-cookingworld-v0", {}),
    ("aem/TWX-coin-v0", {}),
    ("aem/TextWorld-coin-v0", {"split": "dev"}),
    ("aem/TextWorld-custom-v0", {"split": "dev"}),
    ("aem/MiniWoB-click-button-v0", {}),
    ("aem/MiniWoB-login-user-v0", {}),
]


@dataclass
class Row:
    name: str
    start: float = float("nan")
    reset: float = float("nan")
    step: float = float("nan")
    steps: int = 0
    note: str = ""


def _label(env_id: str, kwargs: dict) -> str:
    extra = ",".join(f"{k}={v}" for k, v in kwargs.items() if k != "split")
    return env_id + (f" [{extra}]" if extra else "")


def _next_action(env, info: dict) -> str:
    oracle = env.unwrapped.oracle_action()
    if oracle is not None:
        return oracle
    acts = info.get("admissible_actions")
    return acts[0] if acts else "look"


def measure(env_id: str, kwargs: dict, episodes: int, max_steps: int) -> Row:
    import aem_envs

    row = Row(_label(env_id, kwargs))
    try:
        t = time.perf_counter()
        env = aem_envs.make(env_id, **kwargs)
        _, info = env.reset(seed=0)
        row.start = time.perf_counter() - t
    except Exception as e:  # a missing backend is a row that says so, not a crash
        row.note = f"skipped: {type(e).__name__}: {str(e)[:90]}"
        return row
    resets, steps = [], []
    try:
        for ep in range(episodes):
            if ep:
                t = time.perf_counter()
                _, info = env.reset(seed=ep)
                resets.append(time.perf_counter() - t)
            for _ in range(max_steps):
                action = _next_action(env, info)
                t = time.perf_counter()
                _, _, term, trunc, info = env.step(action)
                steps.append(time.perf_counter() - t)
                if term or trunc:
                    break
    finally:
        env.close()
    row.reset = statistics.median(resets) if resets else float("nan")
    row.step = statistics.median(steps) if steps else float("nan")
    row.steps = len(steps)
    return row


def _ms(x: float) -> str:
    return "        -" if x != x else f"{1000 * x:9.3f}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=4, help="episodes per env (the first one includes start)")
    p.add_argument("--steps", type=int, default=15, help="at most this many steps per episode")
    p.add_argument("--only", default="", help="comma-separated substrings: measure only matching ids")
    args = p.parse_args(argv)
    todo = [(i, k) for i, k in ROWS if not args.only or any(s in i for s in args.only.split(","))]
    rows = [measure(i, k, args.episodes, args.steps) for i, k in tqdm(todo, desc="envs")]
    ref = next((r for name in REFERENCES for r in rows if r.name == name and r.step == r.step), None)
    print(f"\nreference: {ref.name if ref else 'none measured'} "
          f"(ratio = step median / reference step median)")
    print(f"{'env':62} {'start ms':>9} {'reset ms':>9} {'step ms':>9} {'ratio':>9} {'steps':>6}")
    for r in rows:
        ratio = f"{r.step / ref.step:9.1f}" if ref and r.step == r.step else "        -"
        print(f"{r.name:62} {_ms(r.start)} {_ms(r.reset)} {_ms(r.step)} {ratio} {r.steps:6d} {r.note}")


if __name__ == "__main__":
    main()
