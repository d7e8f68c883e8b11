"""Household env speed on one core: ``python -m benchmarks.household [--tasks N] [--real-tasks N]``.

Measures resets/s and steps/s of ``aem/Household-v0`` (the native engine, unwrapped and through
``gymnasium.make``'s wrappers) and of ``aem/ALFWorld-v0`` (the real ALFWorld/TextWorld engine) on the
same tasks with the same commands (oracle episodes with 30 % random admissible commands), measured in
the same run; the table prints the native/real ratios and the 20,000 steps/s target. Without the
household extra the real-engine rows are skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from tqdm import tqdm  # noqa: E402

TARGET_STEPS_PER_S = 20_000.0
TARGET_RATIO = 100.0


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned"


def scripts(ids: list[str], noise: float = 0.3, max_steps: int = 50) -> list[list[str]]:
    """The command sequence of each task (oracle with noise, played on the native engine once)."""
    from aem_envs.household.env import HouseholdEnv

    env, out = HouseholdEnv(), []
    for n, iid in enumerate(ids):
        rng = random.Random(n)
        _, info = env.reset(options={"instance_id": iid})
        acts = []
        for _ in range(max_steps):
            oracle = env.oracle_action()
            adm = info["admissible_actions"]
            a = adm[rng.randrange(len(adm))] if oracle is None or rng.random() < noise else oracle
            acts.append(a)
            *_, term, _, info = env.step(a)
            if term:
                break
        out.append(acts)
    return out


def measure(env, ids: list[str], plans: list[list[str]], desc: str) -> tuple[float, float, int]:
    """Seconds spent in reset and in step over all tasks, and the number of steps."""
    t_reset = t_step = 0.0
    steps = 0
    for iid, plan in tqdm(list(zip(ids, plans, strict=True)), desc=desc, leave=False, mininterval=1.0):
        t = time.perf_counter()
        env.reset(options={"instance_id": iid})
        t_reset += time.perf_counter() - t
        t = time.perf_counter()
        for a in plan:
            env.step(a)
        t_step += time.perf_counter() - t
        steps += len(plan)
    return t_reset, t_step, steps


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=600, help="tasks for the native engine")
    p.add_argument("--real-tasks", type=int, default=20,
                   help="tasks (a prefix of the same list) for ALFWorld")
    args = p.parse_args(argv)
    print(pin_one_core())

    import gymnasium as gym

    import aem_envs  # noqa: F401  (registers the ids)
    from aem_envs.household.env import HouseholdEnv

    native = HouseholdEnv()
    ids = [i for s in ("valid_unseen", "valid_seen", "train") for i in native.tasks.ids(s)][: args.tasks]
    plans = scripts(ids)
    rows = []
    n_real = min(args.real_tasks, len(ids))
    engines = [("native (unwrapped)", native, len(ids)),
               ("native via gym.make", gym.make("aem/Household-v0"), len(ids)),
               ("native, same tasks as real", native, n_real)]
    has_real = (importlib.util.find_spec("alfworld") is not None
                and importlib.util.find_spec("textworld") is not None)
    if has_real:
        from aem_envs.household.alfworld_env import ALFWorldEnv

        engines.append(("ALFWorld/TextWorld (real)", ALFWorldEnv(), n_real))
    for name, env, n in engines:
        if "gym.make" in name:
            env.reset(seed=0)  # gymnasium's wrappers need a first reset before options-only ones
        tr, ts, steps = measure(env, ids[:n], plans[:n], name)
        rows.append((name, n, steps, n / tr, steps / ts))
    ref = rows[-1] if has_real else None
    print(f"\n{'engine':30} {'tasks':>6} {'steps':>7} {'resets/s':>10} {'steps/s':>10} {'reset x':>9} "
          f"{'step x':>9}")
    for name, n, steps, rps, sps in rows:
        rx = f"{rps / ref[3]:9.0f}" if ref else f"{'-':>9}"
        sx = f"{sps / ref[4]:9.0f}" if ref else f"{'-':>9}"
        print(f"{name:30} {n:6d} {steps:7d} {rps:10.1f} {sps:10.0f} {rx} {sx}")
    best = rows[0][4]
    verdict = "met" if best >= TARGET_STEPS_PER_S else "MISSED"
    ratio = (f"; >= {TARGET_RATIO:.0f}x the real engine -> "
             f"{'met' if best / ref[4] >= TARGET_RATIO else 'MISSED'} ({best / ref[4]:,.0f}x)" if ref
             else "; real engine not installed (household extra), ratio not measured")
    print(f"\ntarget: >= {TARGET_STEPS_PER_S:,.0f} steps/s -> {verdict} ({best:,.0f})" + ratio)


if __name__ == "__main__":
    main()
