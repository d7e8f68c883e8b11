"""Scaling out: ``python -m benchmarks.scaling [--quick] [--no-ray] [--no-train]``.

Two tables, each with ratios against a reference measured in the same run:

* **Rollout throughput** (turns/s), 1 → 2 env workers, locally (engine threads, or engine worker
  processes) and on Ray (env actors on a local Ray instance with 2 CPUs), with a scripted policy (no
  model) so the envs are the load:
  ``aem/Household-v0`` (CPU-bound Python: threads share the GIL, actors are processes) and TreasureHunt
  with 10 ms of I/O wait per step (latency-bound: both kinds of worker overlap the waits).
  Reference: the local pool with 1 worker. Ray's and the worker processes' start-up is outside the timed
  runs.
* **Trainer step time**, 1 vs 2 processes (``aem_gym.baselines.distributed.DistributedTrainer``, DDP over
  gloo on CPU), on the same global batch (groups × copies of TreasureHunt, the d128 tiny model). Mean of
  the steps after a warm-up step. Reference: 1 process.

On a machine with few, shared cores the 2-way figures mostly measure contention: report them with the
load average printed below the tables.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from benchmarks import rollout as rollout_bench  # noqa: E402
from benchmarks.rollout import StepLatency  # noqa: E402


def rollout_rate(engine, env_id: str, groups: int, group_size: int, max_turns: int, latency: float) -> float:
    from functools import partial

    from aem_gym.agents import make_policy

    wrappers = [partial(StepLatency, seconds=latency)] if latency else []
    res = engine.run(env_id, tasks=list(range(groups)), group_size=group_size,
                     policy=make_policy("scripted:cycle"), max_turns=max_turns, wrappers=wrappers,
                     run_id="bench")
    return res.stats["turns_per_s"]


def rollout_table(args) -> list[tuple[str, str, int, float, float]]:
    from tqdm import tqdm

    from aem_gym.agents import RolloutEngine

    scenarios = [("aem/Household-v0", 0.0, "CPU-bound household"), ("example/TreasureHunt-v0", 0.01,
                                                                      "TreasureHunt +10ms/step")]
    pools = {}
    if not args.no_ray:
        try:
            import ray

            from aem_gym.agents.ray_pool import RayEnvPool
        except ImportError:
            print("ray is not installed: Ray rows skipped (pip install -e '.[ray]')")
        else:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=80 << 20)
            # benchmarks/ is not an installed package, so an actor could not import StepLatency by name:
            # ship that module's classes by value instead
            ray.cloudpickle.register_pickle_by_value(rollout_bench)
            # 1 + 2 actors on 2 CPUs: half a CPU each, so both pools fit
            pools = {n: RayEnvPool(num_workers=n, num_cpus=0.5) for n in (1, 2)}
    rows = []
    jobs = [(s, kind, n) for s in scenarios for kind in ("local", "process", "ray") for n in (1, 2)
            if kind != "ray" or pools]
    for (env_id, lat, name), kind, n in tqdm(jobs, desc="rollout", leave=False):
        if kind in ("local", "process"):
            engine = RolloutEngine(workers=n, progress=False, process=kind == "process")
        else:
            from aem_gym.agents.ray_pool import ray_engine

            engine = ray_engine(pools[n], progress=False)
        rollout_rate(engine, env_id, 2, 1, 2, lat)  # warm-up (task files parsed, actors' imports)
        rate = statistics.median(
            rollout_rate(engine, env_id, args.groups, args.group_size, args.max_turns, lat)
            for _ in range(args.repeats))
        if kind == "process":
            engine.close()
        rows.append((name, kind, n, rate))
    for p in pools.values():
        p.shutdown()
    if pools:
        import ray

        ray.shutdown()
    ref = {name: rate for name, kind, n, rate in rows if kind == "local" and n == 1}
    return [(name, kind, n, rate, ref[name]) for name, kind, n, rate in rows]


def _train_worker(rank: int, world: int, port: int, model_dir: str, out: str, steps: int,
                  groups: int) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from aem_gym.baselines.config import load_config
    from aem_gym.baselines.distributed import DistributedTrainer, init_distributed, shutdown_distributed

    ctx = init_distributed("gloo")
    try:
        cfg = load_config(None, overrides={
            "algo": "grpo+aem", "out_dir": os.path.join(out, f"run{world}"), "model.init": model_dir,
            "env.id": "example/TreasureHunt-v0",
            "model.max_new_tokens": 16, "model.max_prompt_tokens": 256, "env.max_turns": 4,
            "rollout.groups": groups, "rollout.group_size": 4, "update.mini_batch_size": 64,
            "update.micro_batch_size": 8, "rl.lr": 1e-4, "eval.every": 0})
        tr = DistributedTrainer(cfg, ctx, progress=False)
        tr.warm_start()
        times = [tr.train_step(s)["time/step_s"] for s in range(steps + 1)][1:]
        if ctx.is_main:
            with open(os.path.join(out, f"world{world}.txt"), "w") as f:
                f.write(" ".join(f"{t:.4f}" for t in times))
    finally:
        shutdown_distributed()


def train_table(args) -> list[tuple[str, int, float, float]]:
    import torch.multiprocessing as mp

    from aem_gym.agents.tiny import build_tiny_model

    rows = []
    with tempfile.TemporaryDirectory() as d:
        model_dir = os.path.join(d, "tiny")
        build_tiny_model(model_dir)
        for world in (1, 2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            t0 = time.perf_counter()
            mp.spawn(_train_worker, args=(world, port, model_dir, d, args.train_steps, args.train_groups),
                     nprocs=world, join=True)
            print(f"  {world} process(es): {time.perf_counter() - t0:.0f}s wall incl. start-up", flush=True)
            with open(os.path.join(d, f"world{world}.txt")) as f:
                rows.append((world, statistics.mean(float(x) for x in f.read().split())))
    ref = rows[0][1]
    return [(f"DDP/gloo, {args.train_groups} groups x 4, tiny d128", w, t, ref) for w, t in rows]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-turns", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--train-groups", type=int, default=4)
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smaller run (smoke)")
    args = ap.parse_args(argv)
    if args.quick:
        args.groups, args.group_size, args.max_turns, args.repeats, args.train_steps = 4, 2, 4, 1, 1
    torch.set_num_threads(1)
    rows = rollout_table(args)
    print(f"\nRollout throughput (median of {args.repeats}): {args.groups} groups x {args.group_size}, "
          f"{args.max_turns} turns max, scripted policy; reference = local pool, 1 worker")
    print(f"{'scenario':26} {'backend':>7} {'workers':>7} {'turns/s':>9} {'reference':>9} {'ratio':>6}")
    for name, kind, n, rate, ref in rows:
        print(f"{name:26} {kind:>7} {n:7d} {rate:9.1f} {ref:9.1f} {rate / ref:6.2f}")
    if not args.no_train:
        print("\nTrainer step time (spawning processes):", flush=True)
        trows = train_table(args)
        print(f"\n{'trainer':38} {'procs':>5} {'step s':>8} {'ref s':>8} {'speed-up':>8}")
        for name, w, t, ref in trows:
            print(f"{name:38} {w:5d} {t:8.2f} {ref:8.2f} {ref / t:8.2f}")
    print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
