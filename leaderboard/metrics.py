"""Metrics of a results directory, computed from its episode rows (so a validator can recompute them).

* success rate and mean score per env, per task type and overall (macro mean over envs);
* unbiased pass@k per task (Chen et al. 2021, as in rLLM's ``EvalResult``), averaged over tasks, for every
  k from 2 to the number of seeds: each seed is one attempt at each task;
* standard error of the success rate over seeds (std of the per-seed success rates / sqrt(#seeds));
* tokens, wall time, mean turns, invalid-action rate.

Episodes with ``status == "error"`` (the agent's backend failed: ``aem_gym.agents.errors.BackendError``)
are not attempts: they are left out of every rate and counted in ``errors``; their tokens and time count.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k attempts drawn without replacement from n (c correct) succeeds."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (got n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    # 1 - C(n-c, k) / C(n, k) as a stable product
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def stderr(values: list[float]) -> float | None:
    """Standard error of the mean (sample std, ddof=1); ``None`` with fewer than two values."""
    if len(values) < 2:
        return None
    m = sum(values) / len(values)
    var = sum((v - m) ** 2 for v in values) / (len(values) - 1)
    return math.sqrt(var / len(values))


def _round(x: float) -> float:
    return round(float(x), 6)


def summarize_env(all_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``summary.json`` entry of one env from its episode rows."""
    rows = [r for r in all_rows if r.get("status", "ok") != "error"]
    n = len(rows)
    by_seed: dict[int, list[bool]] = defaultdict(list)
    by_task: dict[str, list[bool]] = defaultdict(list)
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_seed[r["seed"]].append(r["won"])
        by_task[r["instance_id"]].append(r["won"])
        by_type[r["task_type"] or "-"].append(r)
    per_seed = {str(s): _round(sum(w) / len(w)) for s, w in sorted(by_seed.items())}
    kmax = min((len(w) for w in by_task.values()), default=0)
    passk = {}
    for k in range(2, kmax + 1):
        passk[str(k)] = _round(sum(pass_at_k(len(w), sum(w), k) for w in by_task.values()) / len(by_task))
    se = stderr([sum(w) / len(w) for w in by_seed.values()])
    return {
        "episodes": n,
        "instances": len(by_task),
        "success_rate": _round(sum(r["won"] for r in rows) / n) if n else 0.0,
        "mean_score": _round(sum(r["score"] for r in rows) / n) if n else 0.0,
        "stderr_over_seeds": None if se is None else _round(se),
        "per_seed_success": per_seed,
        "per_task_type": {t: {"episodes": len(rs),
                              "success_rate": _round(sum(r["won"] for r in rs) / len(rs)),
                              "mean_score": _round(sum(r["score"] for r in rs) / len(rs))}
                          for t, rs in sorted(by_type.items())},
        "pass_at_k": passk,
        "errors": len(all_rows) - n,
        "tokens": {"prompt": sum(r["prompt_tokens"] for r in all_rows),
                   "completion": sum(r["completion_tokens"] for r in all_rows)},
        "wall_s": _round(sum(r["wall_s"] for r in all_rows)),
        "mean_turns": _round(sum(r["turns"] for r in rows) / n) if n else 0.0,
        "invalid_action_rate": _round(sum(r["invalid_actions"] for r in rows)
                                      / max(1, sum(r["turns"] for r in rows))),
    }


def summarize(rows: Iterable[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Per-env summaries and the overall line (macro mean over envs, so a big env does not dominate)."""
    by_env: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_env[r["env_id"]].append(r)
    envs = {e: summarize_env(rs) for e, rs in sorted(by_env.items())}
    overall = {
        "success_rate": _round(sum(s["success_rate"] for s in envs.values()) / len(envs)) if envs else 0.0,
        "mean_score": _round(sum(s["mean_score"] for s in envs.values()) / len(envs)) if envs else 0.0,
        "episodes": sum(s["episodes"] for s in envs.values()),
        "errors": sum(s["errors"] for s in envs.values()),
        "tokens": {k: sum(s["tokens"][k] for s in envs.values()) for k in ("prompt", "completion")},
    }
    return envs, overall
