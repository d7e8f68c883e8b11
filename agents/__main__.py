"""``python -m aem_gym.agents ENV_ID --agent SPEC``: roll out an agent and print (and optionally save) the
result.

    python -m aem_gym.agents aem/Household-v0 --agent oracle --tasks 8 --group-size 2 --out runs/oracle
    python -m aem_gym.agents aem/WebShop-v1 --agent hf:runs/tiny --temperature 0.7 --max-new-tokens 48
"""

from __future__ import annotations

import argparse
import json
import sys

from aem_gym.agents.prompts import DEFAULT_HISTORY


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aem_gym.agents", description="Roll out an agent in an env.")
    ap.add_argument("env_id")
    ap.add_argument("--agent", required=True,
                    help="hf:PATH, vllm:PATH, openai:MODEL@URL, scripted:NAME, oracle, random, human")
    ap.add_argument("--tasks", type=int, default=4, help="number of groups (seeds seed..seed+N-1)")
    ap.add_argument("--group-size", type=int, default=1)
    ap.add_argument("--max-turns", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--process-workers", action="store_true",
                    help="env workers are processes (CPU-bound envs)")
    ap.add_argument("--schedule", choices=["lockstep", "independent"], default="lockstep")
    ap.add_argument("--max-concurrent", type=int, default=None, help="episodes open at once (default: all)")
    ap.add_argument("--timeout", type=float, default=None, help="per-episode budget in seconds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--history", type=int, default=DEFAULT_HISTORY, help="turns of history in the prompt")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--out", default=None, help="directory for turns.jsonl and trajectories.jsonl")
    args = ap.parse_args(argv)

    from aem_gym.agents import RolloutEngine, SamplingParams, make_policy

    try:
        seeded = args.agent.split(":")[0] in {"random", "scripted", "oracle"}
        policy = make_policy(args.agent, **({"seed": args.seed} if seeded else {}))
    except (ValueError, ImportError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    engine = RolloutEngine(workers=args.workers, episode_timeout_s=args.timeout, history_k=args.history,
                           process=args.process_workers, schedule=args.schedule,
                           max_concurrent=args.max_concurrent)
    with engine:
        res = engine.run(args.env_id, tasks=list(range(args.seed, args.seed + args.tasks)), policy=policy,
                         group_size=args.group_size, max_turns=args.max_turns, seed=args.seed,
                         output_dir=args.out,
                         sampling=SamplingParams(max_new_tokens=args.max_new_tokens,
                                                 temperature=args.temperature))
    summary = {k: round(v, 4) if isinstance(v, float) else v for k, v in res.summary().items()}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
