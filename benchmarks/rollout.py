"""Episode-loop throughput: ``python -m benchmarks.rollout [--groups 8] [--group-size 4] [--quick]``.

Turns per second of ``agents.RolloutEngine`` against a reference measured in the same run, in four regimes
(the ratio column is engine / reference; goals in the last lines):

* **env-bound**: a scripted policy (``scripted:cycle``, no model) in ``example/TreasureHunt-v0`` and, if
  registered, ``aem/Household-v0``. Reference: a bare sequential loop (``make``/``reset``/``step`` with
  the same kind of actions, no engine), so the ratio is the loop's overhead (requests, the action parser,
  records). One worker runs inline; two are threads. Goal: >= 0.8x with one worker. The ``1 (cpu)`` row
  counts turns per CPU-second of this process instead of per wall second (one thread does all the work
  there, so on an idle machine both agree; on a shared one this one is not skewed by the neighbours).
* **CPU-bound**: TreasureHunt with ~2 ms of pure-Python work in every step (holds the GIL, like a
  simulator written in Python). Reference: the bare loop with the same work. Threads cannot run it side
  by side; worker processes can. Goal: >= 1.7x with 2 process workers (on a machine with 2 free cores).
* **latency-bound**: TreasureHunt with a 10 ms sleep in every step (a container, a web page): what
  worker threads buy. Reference: the bare loop with the same sleep. Goal: ~N x with N workers.
* **model-bound**: the tiny HF model (d128, 2 layers; ``aem_gym.agents.tiny``) in TreasureHunt. Reference:
  the very ``HFPolicy.generate`` calls the engine made (recorded), replayed with no env at all.

Every figure is the median over ``--repeats`` pairs, each pair being the engine and its reference run back
to back (the machine may be shared: a pair sees the same load). Env creation and reset are inside both
timings, as in real use; process workers are started once, before the timed runs (like a Ray pool).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import gymnasium as gym  # noqa: E402

import aem_envs  # noqa: E402
from aem_gym.agents import RolloutEngine, SamplingParams, make_policy  # noqa: E402

GOALS = (("env-bound", 1, 0.8), ("CPU-bound", "2 processes", 1.7))


class StepLatency(gym.Wrapper):
    """Sleep ``seconds`` in every step: an env whose steps wait on I/O (the GIL is released)."""

    def __init__(self, env: gym.Env, seconds: float):
        super().__init__(env)
        self.seconds = seconds

    def step(self, action):
        time.sleep(self.seconds)
        return self.env.step(action)


def burn(iterations: int) -> int:
    """Pure-Python work that holds the GIL (a fixed amount of it, whatever the machine's load)."""
    x = 0
    for i in range(iterations):
        x += i & 7
    return x


class StepCPU(gym.Wrapper):
    """``iterations`` of ``burn`` in every step: a CPU-bound Python env."""

    def __init__(self, env: gym.Env, iterations: int):
        super().__init__(env)
        self.iterations = iterations

    def step(self, action):
        burn(self.iterations)
        return self.env.step(action)


def calibrate(seconds: float) -> int:
    """``burn`` iterations that take about ``seconds`` here."""
    n = 20_000
    t0 = time.perf_counter()
    burn(n)
    return max(1, int(n * seconds / max(time.perf_counter() - t0, 1e-6)))


def _burn_many(iterations: int, times: int) -> None:
    for _ in range(times):
        burn(iterations)


def parallel_ceiling(iterations: int, steps: int) -> float:
    """What 2 processes can gain on this machine right now: ``steps`` burns split over two already
    started processes, against all of them in this process (the CPU-bound rows' upper bound)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        list(pool.map(_burn_many, [1, 1], [1, 1]))  # started and warm: start-up is not timed
        t0 = time.perf_counter()
        _burn_many(iterations, steps)
        alone = time.perf_counter() - t0
        t0 = time.perf_counter()
        list(pool.map(_burn_many, [iterations] * 2, [steps // 2, steps - steps // 2]))
        return alone / (time.perf_counter() - t0)


def bare_loop(env_id: str, n_episodes: int, max_turns: int, latency: float = 0.0,
              iterations: int = 0, clock=time.perf_counter) -> float:
    """Reference: turns/s of a plain loop over episodes, cycling through the admissible actions
    (``clock=time.process_time``: turns per CPU-second of this process)."""
    turns, t0 = 0, clock()
    for ep in range(n_episodes):
        env = aem_envs.make(env_id)
        _, info = env.reset(seed=ep)
        for t in range(max_turns):
            acts = info.get("admissible_actions") or ["look"]
            if latency:
                time.sleep(latency)
            if iterations:
                burn(iterations)
            _, _, term, trunc, info = env.step(acts[t % len(acts)])
            turns += 1
            if term or trunc:
                break
        env.close()
    return turns / (clock() - t0)


def engine_rate(env_id: str, policy, groups: int, group_size: int, max_turns: int, workers: int = 1,
                latency: float = 0.0, sampling: SamplingParams | None = None, iterations: int = 0,
                engine: RolloutEngine | None = None) -> tuple[float, dict]:
    wrappers = [functools.partial(StepLatency, seconds=latency)] if latency else []
    wrappers += [functools.partial(StepCPU, iterations=iterations)] if iterations else []
    engine = engine or RolloutEngine(workers=workers, progress=True)
    res = engine.run(env_id, tasks=list(range(groups)), group_size=group_size, policy=policy,
                     max_turns=max_turns, wrappers=wrappers, sampling=sampling)
    return res.stats["turns_per_s"], res.stats


def engine_cpu_rate(env_id: str, policy, groups: int, group_size: int, max_turns: int) -> float:
    """Turns per CPU-second of this process, one inline worker (everything runs in this thread)."""
    t0 = time.process_time()
    _, stats = engine_rate(env_id, policy, groups, group_size, max_turns, 1)
    return stats["n_turns"] / (time.process_time() - t0)


def paired(k: int, engine_fn, ref_fn) -> tuple[float, float, float]:
    """Median engine rate, median reference rate and median ratio over ``k`` back-to-back pairs (which of
    the two runs first alternates, so neither always gets the warmer or the quieter slot)."""
    pairs = []
    for i in range(max(1, k)):
        if i % 2:
            ref = ref_fn()
            pairs.append((engine_fn(), ref))
        else:
            pairs.append((engine_fn(), ref_fn()))
    return (statistics.median(e for e, _ in pairs), statistics.median(r for _, r in pairs),
            statistics.median(e / r for e, r in pairs))


class Recording:
    """Wraps a policy and keeps every batch of requests, to replay them without envs (the reference)."""

    def __init__(self, policy):
        self.policy, self.batches = policy, []

    def generate(self, requests):
        self.batches.append(requests)
        return self.policy.generate(requests)


def model_only_rate(policy, batches) -> float:
    """Reference: the very same generate calls the engine made, with no env, prompt building or records."""
    t0 = time.perf_counter()
    for reqs in batches:
        policy.generate(reqs)
    return sum(len(b) for b in batches) / (time.perf_counter() - t0)


def env_rows(args, scripted) -> list[tuple]:
    ids = {e.id for e in aem_envs.list_envs()}
    rows = []
    for env_id in ["example/TreasureHunt-v0"] + (["aem/Household-v0"] if "aem/Household-v0" in ids else []):
        bare_loop(env_id, args.groups * args.group_size, 1)  # warm-up: envs may cache per-task data
        for w in (1, 2):
            rate, ref, ratio = paired(args.repeats, lambda w=w, e=env_id: engine_rate(
                e, scripted, args.groups, args.group_size, args.max_turns, w)[0],
                lambda e=env_id: bare_loop(e, args.groups * args.group_size, args.max_turns))
            rows.append((f"env-bound  {env_id}", str(w), rate, ref, ratio, "bare loop"))
        # the same with one worker, per CPU-second: what the loop costs, whatever else runs on the machine
        rate, ref, ratio = paired(args.repeats, lambda e=env_id: engine_cpu_rate(
            e, scripted, args.groups, args.group_size, args.max_turns),
            lambda e=env_id: bare_loop(e, args.groups * args.group_size, args.max_turns,
                                       clock=time.process_time))
        rows.append((f"env-bound  {env_id}", "1 (cpu)", rate, ref, ratio, "bare loop, per CPU-second"))
    return rows


def cpu_rows(args, scripted) -> list[tuple]:
    env, n_eps, turns = "example/TreasureHunt-v0", args.groups * args.group_size, args.cpu_turns
    iters = calibrate(args.cpu_ms / 1000)
    ref_fn = functools.partial(bare_loop, env, n_eps, turns, iterations=iters)
    rows = []
    for w in (1, 2):
        rate, ref, ratio = paired(args.repeats, lambda w=w: engine_rate(
            env, scripted, args.groups, args.group_size, turns, w, iterations=iters)[0], ref_fn)
        rows.append((f"CPU-bound TreasureHunt +{args.cpu_ms:g}ms CPU/step", f"{w} thr" if w > 1 else "1",
                     rate, ref, ratio, "bare loop"))
    with RolloutEngine(workers=2, progress=True, process=True) as engine:  # processes start here, untimed
        engine_rate(env, scripted, 2, 1, 2, engine=engine, iterations=iters)  # warm-up: workers import
        rate, ref, ratio = paired(args.repeats, lambda: engine_rate(
            env, scripted, args.groups, args.group_size, turns, iterations=iters, engine=engine)[0], ref_fn)
    name = f"CPU-bound TreasureHunt +{args.cpu_ms:g}ms CPU/step"
    rows.append((name, "2 proc", rate, ref, ratio, "bare loop"))
    ceiling = statistics.median(parallel_ceiling(iters, n_eps * turns) for _ in range(max(1, args.repeats)))
    nan = float("nan")
    rows.append(("  ceiling: the same work in 2 bare processes", "2 proc", nan, nan, ceiling,
                 "the work in 1 process"))
    return rows


def latency_rows(args, scripted) -> list[tuple]:
    lat, env, n_eps = 0.01, "example/TreasureHunt-v0", args.groups * args.group_size
    rows = []
    for w in (1, 2, 4):
        rate, ref, ratio = paired(args.repeats, lambda w=w: engine_rate(
            env, scripted, args.groups, args.group_size, args.max_turns, w, lat)[0],
            lambda: bare_loop(env, n_eps, args.max_turns, latency=lat))
        rows.append(("latency-bound TreasureHunt +10ms/step", str(w), rate, ref, ratio, "bare loop"))
    return rows


def model_rows(args) -> tuple[list[tuple], dict]:
    from aem_gym.agents.backends.hf import HFPolicy
    from aem_gym.agents.tiny import build_tiny_model

    rows, stats = [], {}
    with tempfile.TemporaryDirectory() as d:
        policy = HFPolicy.from_pretrained(build_tiny_model(d), device="cpu", seed=0)
        sp = SamplingParams(max_new_tokens=args.max_new_tokens)
        warm = Recording(policy)  # first calls pay one-off costs (allocator, kernels): not measured
        engine_rate("example/TreasureHunt-v0", warm, 2, 2, 2, 1, sampling=sp)
        for w in (1, 2):
            pairs = []
            for _ in range(args.repeats):  # engine and its reference back to back: same machine load
                rec = Recording(policy)
                rate, stats = engine_rate("example/TreasureHunt-v0", rec, args.groups, args.group_size,
                                          args.model_turns, w, sampling=sp)
                pairs.append((rate, model_only_rate(policy, rec.batches)))
            rate, ref = sorted(pairs, key=lambda p: p[0] / p[1])[len(pairs) // 2]
            rows.append(("model-bound tiny d128/L2, TreasureHunt", str(w), rate, ref, rate / ref,
                         "same generate calls alone"))
    return rows, stats


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-turns", type=int, default=10)
    ap.add_argument("--cpu-turns", type=int, default=4, help="turns per episode in the CPU-bound rows")
    ap.add_argument("--cpu-ms", type=float, default=2.0,
                    help="pure-Python work per step in the CPU-bound rows")
    ap.add_argument("--model-turns", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--torch-threads", type=int, default=1, help="intra-op threads for the tiny model")
    ap.add_argument("--repeats", type=int, default=5, help="median over this many engine/reference pairs")
    ap.add_argument("--only", choices=["env", "cpu", "latency", "model"], nargs="+", default=None)
    ap.add_argument("--quick", action="store_true", help="smaller run (CI smoke)")
    args = ap.parse_args(argv)
    if args.quick:
        args.groups, args.group_size, args.max_turns, args.model_turns, args.repeats = 4, 2, 6, 2, 1
        args.cpu_turns = 2
    import torch

    torch.set_num_threads(args.torch_threads)
    scripted = make_policy("scripted:cycle")
    parts = args.only or ["env", "cpu", "latency", "model"]
    rows, stats = [], {}
    if "env" in parts:
        rows += env_rows(args, scripted)
    if "cpu" in parts:
        rows += cpu_rows(args, scripted)
    if "latency" in parts:
        rows += latency_rows(args, scripted)
    if "model" in parts:
        more, stats = model_rows(args)
        rows += more
    print(f"\nEpisode loop benchmark (median of {args.repeats} engine/reference pairs): "
          f"{args.groups} groups x {args.group_size} copies, max {args.max_turns} turns (CPU-bound: "
          f"{args.cpu_turns} turns; model: {args.model_turns} turns, {args.max_new_tokens} new tokens), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'scenario':46} {'workers':>7} {'turns/s':>10} {'reference':>10} {'ratio':>6}  reference")
    for name, w, rate, ref, ratio, ref_name in rows:
        print(f"{name:46} {w:>7} {rate:10.1f} {ref:10.1f} {ratio:6.2f}  {ref_name}")
    print(_goals(rows))
    if stats:
        print(f"last model-bound run: policy {stats.get('policy_s', 0):.2f}s, env and loop "
              f"{stats.get('env_s', 0):.2f}s of {stats.get('wall_s', 0):.2f}s wall")


def _goals(rows: list[tuple]) -> str:
    env1 = [r[4] for r in rows if r[0].startswith("env-bound") and r[1] == "1"]
    cpu1 = [r[4] for r in rows if r[0].startswith("env-bound") and r[1] == "1 (cpu)"]
    proc = [r[4] for r in rows if r[0].startswith("CPU-bound") and r[1] == "2 proc"]
    ceiling = [r[4] for r in rows if r[0].strip().startswith("ceiling")]
    lat = {r[1]: r[4] for r in rows if r[0].startswith("latency-bound")}
    out = []
    if env1:
        out.append(f"env-bound, 1 worker: {min(env1):.2f}x of the bare loop (goal >= 0.80x; per CPU-second "
                   f"{min(cpu1):.2f}x)")
    if proc:
        out.append(f"CPU-bound, 2 process workers: {proc[0]:.2f}x (goal >= 1.70x with 2 free cores; this "
                   f"machine's ceiling now: {ceiling[0]:.2f}x)")
    if lat:
        out.append("latency-bound: " + ", ".join(f"{w} worker(s) {r:.2f}x" for w, r in lat.items()))
    return "goals: " + "; ".join(out) if out else ""


if __name__ == "__main__":
    main()
