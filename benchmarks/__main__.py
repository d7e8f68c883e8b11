"""``python -m benchmarks [NAME ...]`` (``make bench``): run benchmarks one after another with defaults.

Without names it runs the quick ones (env, rollout, AEM-overhead, sandbox latency, API-eval schedules);
``cpu_recipe`` (trains GRPO vs GRPO+AEM over seeds) and ``scaling`` (Ray and 2-process training) take much
longer and run only when named, as does ``entropy_drift`` (AEM's theory on the trainer's update, a few
minutes).
"""

from __future__ import annotations

import importlib
import sys
import time

QUICK = ["household", "webshop", "rollout", "aem_overhead", "swe", "upstream", "api_eval"]
ALL = [*QUICK, "cpu_recipe", "scaling", "entropy_drift"]


def main(argv: list[str]) -> int:
    names = argv or QUICK
    unknown = [n for n in names if n not in ALL]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {ALL}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"\n===== benchmarks.{name} =====", flush=True)
        t0 = time.perf_counter()
        try:
            importlib.import_module(f"benchmarks.{name}").main([])
        except Exception as e:  # one broken benchmark (a missing runtime) must not hide the others
            print(f"benchmarks.{name} failed: {type(e).__name__}: {e}", file=sys.stderr)
            failed.append(name)
        print(f"({name}: {time.perf_counter() - t0:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
