"""Rollout engine throughput: ``python -m benchmarks.rollout [--groups 8] [--group-size 4] [--quick]``.

Turns per second of ``agents.RolloutEngine`` on 1 and 2 env workers, in three regimes:

* **env-bound**: a scripted policy (``scripted:cycle``, no model) in ``example/TreasureHunt-v0`` and, if
  registered, ``aem/Household-v0``. Reference, measured in the same run: a bare sequential loop
  (``make``/``reset``/``step`` with the same kind of actions, no engine), so the ratio is the engine's
  overhead (prompt building, records, threads).
* **latency-bound**: the same with a 10 ms sleep in every step (a stand-in for a container or a web
  page): what the worker pool buys. Reference: the bare loop with the same sleep.
* **model-bound**: the tiny HF model (d128, 2 layers; ``aem_gym.agents.tiny``) in TreasureHunt. Reference: the
  very ``HFPolicy.generate`` calls the engine made (recorded), replayed with no env at all.

Env creation and reset are inside the engine's wall time (and the bare loop's), as in real use.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import gymnasium as gym  # noqa: E402

import aem_envs  # noqa: E402
from aem_gym.agents import RolloutEngine, SamplingParams, make_policy  # noqa: E402


class StepLatency(gym.Wrapper):
    """Sleep ``seconds`` in every step: an env whose steps wait on I/O (the GIL is released)."""

    def __init__(self, env: gym.Env, seconds: float):
        super().__init__(env)
        self.seconds = seconds

    def step(self, action):
        time.sleep(self.seconds)
        return self.env.step(action)


def bare_loop(env_id: str, n_episodes: int, max_turns: int, latency: float = 0.0) -> float:
    """Reference: turns/s of a plain loop over episodes, cycling through the admissible actions."""
    turns, t0 = 0, time.perf_counter()
    for ep in range(n_episodes):
        env = aem_envs.make(env_id)
        _, info = env.reset(seed=ep)
        for t in range(max_turns):
            acts = info.get("admissible_actions") or ["look"]
            if latency:
                time.sleep(latency)
            _, _, term, trunc, info = env.step(acts[t % len(acts)])
            turns += 1
            if term or trunc:
                break
        env.close()
    return turns / (time.perf_counter() - t0)


def engine_rate(env_id: str, policy, groups: int, group_size: int, max_turns: int, workers: int,
                latency: float = 0.0, sampling: SamplingParams | None = None) -> tuple[float, dict]:
    wrappers = [lambda e: StepLatency(e, latency)] if latency else []
    res = RolloutEngine(workers=workers, progress=True).run(
        env_id, tasks=list(range(groups)), group_size=group_size, policy=policy, max_turns=max_turns,
        wrappers=wrappers, sampling=sampling)
    return res.stats["turns_per_s"], res.stats


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


def _median_of(k: int):
    def run(fn):
        vals = sorted(fn() for _ in range(max(1, k)))
        return vals[len(vals) // 2]

    return run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-turns", type=int, default=10)
    ap.add_argument("--model-turns", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--torch-threads", type=int, default=1, help="intra-op threads for the tiny model")
    ap.add_argument("--repeats", type=int, default=3, help="median of this many runs per figure")
    ap.add_argument("--quick", action="store_true", help="smaller run (CI smoke)")
    args = ap.parse_args(argv)
    if args.quick:
        args.groups, args.group_size, args.max_turns, args.model_turns, args.repeats = 4, 2, 6, 2, 1
    med = _median_of(args.repeats)
    import torch

    torch.set_num_threads(args.torch_threads)
    n_eps = args.groups * args.group_size
    ids = {e.id for e in aem_envs.list_envs()}
    env_ids = ["example/TreasureHunt-v0"] + (["aem/Household-v0"] if "aem/Household-v0" in ids else [])
    rows: list[tuple[str, int, float, float, str]] = []
    scripted = make_policy("scripted:cycle")
    for env_id in env_ids:
        bare_loop(env_id, n_eps, 1)  # warm-up: envs may cache per-task data on first reset
        ref = med(lambda e=env_id: bare_loop(e, n_eps, args.max_turns))
        for w in (1, 2):
            rate = med(lambda w=w, e=env_id: engine_rate(e, scripted, args.groups, args.group_size, args.max_turns, w)[0])
            rows.append((f"env-bound  {env_id}", w, rate, ref, "bare loop"))
    lat = 0.01
    ref = med(lambda: bare_loop("example/TreasureHunt-v0", n_eps, args.max_turns, latency=lat))
    for w in (1, 2, 4):
        rate = med(lambda w=w: engine_rate("example/TreasureHunt-v0", scripted, args.groups, args.group_size,
                                           args.max_turns, w, lat)[0])
        rows.append(("latency-bound TreasureHunt +10ms/step", w, rate, ref, "bare loop"))

    from aem_gym.agents.backends.hf import HFPolicy
    from aem_gym.agents.tiny import build_tiny_model

    with tempfile.TemporaryDirectory() as d:
        policy = HFPolicy.from_pretrained(build_tiny_model(d), device="cpu", seed=0)
        sp = SamplingParams(max_new_tokens=args.max_new_tokens)
        stats = {}
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
            rows.append(("model-bound tiny d128/L2, TreasureHunt", w, rate, ref, "same generate calls alone"))
    print(f"\nRollout engine benchmark (median of {args.repeats}): {args.groups} groups x {args.group_size} copies, "
          f"max {args.max_turns} turns (model: {args.model_turns} turns, {args.max_new_tokens} new tokens), "
          f"torch threads {args.torch_threads}, {os.cpu_count()} CPUs")
    print(f"{'scenario':46} {'workers':>7} {'turns/s':>10} {'reference':>10} {'ratio':>6}  reference")
    for name, w, rate, ref, ref_name in rows:
        print(f"{name:46} {w:7d} {rate:10.1f} {ref:10.1f} {rate / ref:6.2f}  {ref_name}")
    print(f"last model-bound run: policy {stats.get('policy_s', 0):.2f}s, env {stats.get('env_s', 0):.2f}s "
          f"of {stats.get('wall_s', 0):.2f}s wall")


if __name__ == "__main__":
    main()
