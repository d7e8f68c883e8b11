"""WebShop env speed on one core: ``python -m benchmarks.webshop [--episodes N] [--queries N]``.

Measures index build, search latency (uncached and memoised) and env steps/s (oracle episodes, and a
random walk over the admissible actions). References measured in the same run: for steps/s the tiny
``example/TreasureHunt-v0`` env (the floor cost of the gymnasium/TextEnv machinery) and the 2,000 steps/s
target; for search a plain-Python BM25 over the same tokens (what the library saves).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import time
from collections import Counter, defaultdict

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: no BLAS/OpenMP threads behind numpy

from tqdm import tqdm  # noqa: E402

TARGET_STEPS_PER_S = 2000.0


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


class PythonBM25:
    """Reference: Lucene-style BM25 with an inverted index in dicts, no numpy."""

    def __init__(self, corpus: list[list[str]], k1: float = 0.9, b: float = 0.4):
        self.k1, self.b = k1, b
        self.lengths = [len(d) for d in corpus]
        self.avg = sum(self.lengths) / max(1, len(corpus))
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, doc in enumerate(corpus):
            for term, tf in Counter(doc).items():
                self.postings[term].append((i, tf))
        n = len(corpus)
        self.idf = {t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()}

    def search(self, terms: list[str], k: int = 50) -> list[int]:
        scores: dict[int, float] = defaultdict(float)
        for t in terms:
            for i, tf in self.postings.get(t, ()):
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avg)
                scores[i] += self.idf[t] * tf / norm
        return sorted(scores, key=lambda i: (-scores[i], i))[:k]


def time_calls(fn, items, desc: str) -> list[float]:
    out = []
    for x in tqdm(items, desc=desc, leave=False, mininterval=1.0):
        t = time.perf_counter()
        fn(x)
        out.append(time.perf_counter() - t)
    return out


def env_steps(make, policy, episodes: int, desc: str) -> tuple[float, int]:
    env = make()
    steps, t0 = 0, time.perf_counter()
    for ep in tqdm(range(episodes), desc=desc, leave=False, mininterval=1.0):
        _, info = env.reset(seed=ep)
        for _ in range(15):
            _, _, term, trunc, info = env.step(policy(env, info, ep))
            steps += 1
            if term or trunc:
                break
    dt = time.perf_counter() - t0
    env.close()
    return steps / dt, steps


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args(argv)
    where = pin_one_core()

    import aem_envs
    from aem_envs.webshop.env import SEARCH_PLACEHOLDER, WebShopEnv, load_generated
    from aem_envs.webshop.search import SearchEngine, document, tokenize

    tasks, catalog = load_generated()
    t = time.perf_counter()
    engine = SearchEngine(catalog.products)
    build = time.perf_counter() - t
    t = time.perf_counter()
    ref = PythonBM25([tokenize(document(p)) for p in catalog.products])
    ref_build = time.perf_counter() - t

    rng = random.Random(0)
    goals = [tasks.get(i) for i in tasks.ids("train")]
    queries = [tuple(g["instruction_text"].split(", and price")[0].split(" "))
               for g in rng.sample(goals, args.queries)]
    cold = time_calls(engine._search, queries, "search (uncached)")
    warm = time_calls(engine.search, queries * 2, "search (memoised)")[len(queries):]
    ref_times = time_calls(lambda q: ref.search(tokenize(" ".join(q))), queries[:200], "reference BM25")

    def oracle(env, info, ep):
        return env.unwrapped.oracle_action()

    def walk(env, info, ep):
        acts = info["admissible_actions"]
        if acts == [SEARCH_PLACEHOLDER] or rng.random() < 0.1:
            return env.unwrapped.oracle_action() or "click[back to search]"
        return rng.choice(acts)

    def treasure(env, info, ep):
        return env.unwrapped.oracle_action()

    catalog.search.search(("warm",))  # build the envs' shared index outside the timed episodes
    ws = lambda: aem_envs.make("aem/WebShop-v1")  # noqa: E731
    oracle_sps, oracle_n = env_steps(ws, oracle, args.episodes, "oracle episodes")
    walk_sps, walk_n = env_steps(ws, walk, args.episodes, "random walk")
    raw_env = WebShopEnv()
    raw_sps, raw_n = env_steps(lambda: raw_env, walk, args.episodes, "random walk, no wrappers")
    th_sps, th_n = env_steps(lambda: aem_envs.make("example/TreasureHunt-v0"), treasure, args.episodes,
                             "TreasureHunt")

    ms = lambda xs: 1000 * statistics.mean(xs)  # noqa: E731
    p95 = lambda xs: 1000 * sorted(xs)[int(0.95 * len(xs))]  # noqa: E731
    load = (f", load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
            if hasattr(os, "getloadavg") else "")
    print(f"\nWebShop benchmark: {len(catalog)} products, {where}{load}, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    print(f"{'measure':44} {'value':>12} {'reference':>12} {'ratio':>8}")
    rows = [
        ("index build (s)", build, ref_build, "python BM25 build"),
        ("search uncached, mean (ms)", ms(cold), ms(ref_times), "python BM25"),
        ("search uncached, p95 (ms)", p95(cold), p95(ref_times), "python BM25"),
        ("search memoised, mean (ms)", ms(warm), ms(cold), "uncached"),
        (f"env steps/s, oracle ({oracle_n} steps)", oracle_sps, TARGET_STEPS_PER_S, "target"),
        (f"env steps/s, random walk ({walk_n} steps)", walk_sps, TARGET_STEPS_PER_S, "target"),
        (f"env steps/s, walk without wrappers ({raw_n})", raw_sps, th_sps, "TreasureHunt"),
        (f"TreasureHunt steps/s ({th_n} steps)", th_sps, TARGET_STEPS_PER_S, "target"),
    ]
    for name, value, reference, ref_name in rows:
        print(f"{name:44} {value:12.3f} {reference:12.3f} {value / reference:8.2f}  (vs {ref_name})")


if __name__ == "__main__":
    main()
