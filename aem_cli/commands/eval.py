"""``aem eval``: evaluate an agent on a suite with fixed seeds and write a results directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from aem_gym.cli.registry import command


@command("eval", "evaluate an agent on a suite (or env ids) with fixed seeds; writes a results directory")
def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agent", required=True, help="agent spec: oracle, random, scripted:NAME, hf:PATH, ...")
    p.add_argument("--suite", default="default",
                   help="suite name (default, example) or comma-separated env ids")
    p.add_argument("--split", default="auto", help="split name for every env, or auto: each env's evaluation split")
    p.add_argument("--episodes", type=int, default=None,
                   help="tasks per env: the first N of the split in manifest order (default: the whole split)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one attempt per task per seed")
    p.add_argument("--out", type=Path, required=True, help="results directory to create")
    p.add_argument("--max-turns", type=int, default=None, help="truncate episodes after N turns")
    p.add_argument("--name", default=None, help="display name on the leaderboard (default: the agent's)")
    p.add_argument("--temperature", type=float, default=None, help="sampling temperature for model agents")
    p.add_argument("--max-new-tokens", type=int, default=None, help="response length cap for model agents")
    p.add_argument("--history", type=int, default=3, help="past turns shown in a model agent's prompt")
    p.add_argument("--constrain", choices=["admissible"], default=None,
                   help="decode only replies naming an admissible action (hf agents; agents.constrained)")
    p.add_argument("--batch", type=int, default=16, help="episodes run in lockstep (one policy call per turn)")
    p.add_argument("--no-progress", action="store_true")


@configure.handler
def run(args: argparse.Namespace) -> int:
    from aem_gym.leaderboard.runner import EvalConfig, evaluate
    from aem_gym.leaderboard.schema import SUMMARY_FILE, load_json

    if args.episodes is not None and args.episodes < 1:
        raise ValueError("--episodes must be >= 1")
    out = evaluate(EvalConfig(agent=args.agent, suite=args.suite, split=args.split, episodes=args.episodes,
                              seeds=args.seeds, out=args.out, max_turns=args.max_turns, name=args.name,
                              temperature=args.temperature, max_new_tokens=args.max_new_tokens, history=args.history, batch=args.batch,
                              constrain=args.constrain,
                              progress=not args.no_progress))
    s = load_json(out / SUMMARY_FILE)
    for env_id, e in s["envs"].items():
        se = "" if e["stderr_over_seeds"] is None else f" ± {e['stderr_over_seeds']:.3f}"
        print(f"{env_id:32s} success {e['success_rate']:.3f}{se}  score {e['mean_score']:.3f}  "
              f"({e['episodes']} episodes, {e['wall_s']:.1f} s)")
    print(f"overall success {s['overall']['success_rate']:.3f} · results in {out} · "
          f"submit with `aem leaderboard submit {out}`")
    return 0
