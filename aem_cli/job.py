"""The main job (``make run``, ``python -m aem_gym.cli.job``): evaluate the bundled baselines on the default
suite, submit them to the local leaderboard, print the ranking and how to open the page.

It composes the trainer's output and the leaderboard, so it lives in the CLI layer (the leaderboard does
not know the trainer). Agents: ``oracle`` (the envs' planners: the ceiling), ``random`` (uniform
admissible actions: the floor), the released baseline agents in ``baselines/released/`` (the
``cpu-tiny-household`` recipe trained with GRPO and GRPO+AEM, seed 0; small enough to ship), and every
CPU-trained checkpoint found at ``runs/baselines/<recipe>-<algo>-seed<S>/final/`` (a local run replaces the
released agent of the same name), each evaluated as ``hf:<that dir>``.

Embedded defaults (minutes on 2 cores): the ``default`` suite, each env's evaluation split, its default
subset of 10 tasks (``aem_envs.subsets``: round robin over task types), seeds 0 and 1, at most 15 turns
per episode (the same protocol for every agent, so they share one board; the envs' own limits are
50/15/30 turns, which a CPU-sampled tiny model would need hours for).
Override with ``AEM_RUN_EPISODES`` (0 = whole split), ``AEM_RUN_SEEDS`` ("0 1 2"), ``AEM_RUN_MAX_TURNS``
(0 = the envs' limits), ``AEM_RUN_SUITE`` and ``AEM_LEADERBOARD_DB``. A trained agent is evaluated with
the settings its trainer's own eval used (``train_settings``). Results already present for the same agent
and protocol are reused, so a second ``make run`` only re-submits (idempotent) and prints.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import aem_gym.baselines
from aem_envs.wrappers.recorder import to_jsonable
from aem_gym.agents.evaluate import EvalConfig
from aem_gym.leaderboard.runner import evaluate
from aem_gym.leaderboard.schema import METADATA_FILE, SUMMARY_FILE, load_yaml
from aem_gym.leaderboard.store import DuplicateRun, default_db_path
from aem_gym.leaderboard.submit import SubmissionRejected, submit

RUNS = Path("runs")
BASELINES = RUNS / "baselines"
RELEASED = Path(aem_gym.baselines.__file__).with_name("released")
# The EvalConfig fields that shape how an agent acts (the board's protocol sets the rest); a model agent's
# samples also depend on how its requests were batched (max_concurrent).
AGENT_SETTINGS = ("history", "history_tokens", "temperature", "top_p", "max_new_tokens", "constrain",
                  "max_prompt_tokens",
                  "max_concurrent")
_NONE_IS_A_VALUE = ("max_concurrent", "history_tokens")  # None: every episode at once; no token budget


def baseline_agents(*roots: Path) -> list[tuple[str, str]]:
    """``(name, spec)`` for every finished baseline checkpoint (``<root>/<run>/final/``) under ``roots``
    (default: the released agents, then ``runs/baselines``); a later root wins a name clash."""
    found: dict[str, str] = {}
    for root in roots or (RELEASED, BASELINES):
        if root.is_dir():
            found.update((d.parent.name, f"hf:{d}") for d in sorted(root.glob("*/final"))
                         if (d / "config.json").is_file())
    return sorted(found.items())


def train_settings(spec: str) -> dict[str, Any]:
    """How the trainer of an ``hf:<run>/final`` agent evaluated it, as ``EvalConfig`` fields: the settings
    its final eval recorded (``final/eval.json``), else those its ``config.yaml`` implies."""
    if not spec.startswith("hf:"):
        return {}
    final = Path(spec[3:])
    try:
        recorded = json.loads((final / "eval.json").read_text(encoding="utf-8")).get("settings")
    except (OSError, ValueError):
        recorded = None
    if isinstance(recorded, dict):  # None is a value for max_concurrent (every episode at once)
        return {k: recorded[k] for k in AGENT_SETTINGS
                if k in recorded and (recorded[k] is not None or k in _NONE_IS_A_VALUE)}
    try:
        cfg = load_yaml(final.parent / "config.yaml") or {}
    except ValueError:
        return {}
    model, env, ev, roll = (cfg.get(k) or {} for k in ("model", "env", "eval", "rollout"))
    out: dict[str, Any] = {k: int(v) for k, v in (("max_new_tokens", model.get("max_new_tokens")),
                                                  ("history", env.get("history")),
                                                  ("max_prompt_tokens", model.get("max_prompt_tokens")))
                           if v is not None}
    out.update({k: float(v) for k, v in (("temperature", ev.get("temperature")), ("top_p", roll.get("top_p")))
                if v is not None})
    if model.get("constrain"):
        out["constrain"] = str(model["constrain"])
    out["max_concurrent"] = None  # the trainer's eval runs every episode at once
    out["history_tokens"] = None  # and caps history by turns only
    return out


def _reusable(out: Path, spec: str, suite: str, env_ids: list[str], cfg: EvalConfig) -> bool:
    if not (out / SUMMARY_FILE).is_file():
        return False
    try:
        m = load_yaml(out / METADATA_FILE)
    except ValueError:
        return False
    return (m.get("agent", {}).get("spec") == spec and m.get("suite") == suite
            and sorted(m.get("envs", {})) == sorted(env_ids)
            and m.get("settings") == to_jsonable(cfg.settings()))


def main() -> int:
    from aem_gym.leaderboard.suites import resolve_suite

    episodes = int(os.environ.get("AEM_RUN_EPISODES", "10")) or None
    max_turns = int(os.environ.get("AEM_RUN_MAX_TURNS", "15")) or None
    seeds = [int(s) for s in os.environ.get("AEM_RUN_SEEDS", "0 1").split()]
    suite = os.environ.get("AEM_RUN_SUITE", "default")
    suite_name, env_ids = resolve_suite(suite)
    db = default_db_path()
    agents = [("oracle", "oracle"), ("random", "random"), *baseline_agents()]
    print(f"main job: suite {suite_name} ({', '.join(env_ids)}), "
          f"{'whole split' if not episodes else f'{episodes} tasks (stratified by type)'} per env, "
          f"seeds {seeds}, "
          f"max turns {max_turns or 'env default'}")
    print(f"agents: {', '.join(n for n, _ in agents)}"
          + ("" if len(agents) > 2 else f"  (no trained baselines under {BASELINES}/*/final yet)"))
    t0, failed = time.perf_counter(), []
    for name, spec in agents:
        cfg = EvalConfig(episodes=episodes, seeds=seeds, max_turns=max_turns, **train_settings(spec))
        tasks = "all" if not episodes else f"strat{episodes}"  # not first-N: older results are not reused
        out = RUNS / "eval" / f"{name}-{suite}-{tasks}-s{'_'.join(map(str, seeds))}"
        if _reusable(out, spec, suite_name, env_ids, cfg):
            print(f"[{name}] reusing {out}")
        else:
            if out.exists():
                shutil.rmtree(out)
            evaluate(spec, cfg, out, suite=suite, name=name)
        try:
            acc = submit(out, db=db, progress=True)
        except SubmissionRejected as e:
            print(f"[{name}] {e}", file=sys.stderr)
            failed.append(name)
            continue
        except DuplicateRun as e:  # re-evaluated with identical episodes: the earlier row stands
            print(f"[{name}] already on the leaderboard: {e}")
            continue
        state = "submitted as" if acc.result.created else "already on the leaderboard as"
        print(f"[{name}] {acc.report}; {state} #{acc.result.id}")
    done = len(agents) - len(failed)
    print(f"\nevaluated and submitted {done} agents in {time.perf_counter() - t0:.0f} s\n")
    from aem_gym.leaderboard.ranking import render
    from aem_gym.leaderboard.store import Store

    print(render(Store(db)))
    print(f"\nper task type: .venv/bin/aem leaderboard show --by task-type --db {db}")
    print(f"web page:      .venv/bin/aem leaderboard serve --db {db}   then open http://127.0.0.1:8765/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
