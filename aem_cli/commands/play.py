"""``aem play ENV_ID``: play an episode in the terminal (or watch the env's oracle play it)."""

from __future__ import annotations

import argparse
import sys

from aem_gym.cli.registry import command


@command("play", "play an environment in the terminal, with the admissible actions shown")
def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("env_id")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--instance-id", default=None)
    p.add_argument("--split", default=None)
    p.add_argument("--oracle", action="store_true",
                   help="let the env's oracle play (needs env.oracle_action)")
    p.add_argument("--max-turns", type=int, default=None)


def _show(obs: str, info: dict) -> None:
    print(obs)
    acts = info.get("admissible_actions")
    if acts:
        print("\n  admissible: " + " | ".join(acts))


@configure.handler
def run(args: argparse.Namespace) -> int:
    import aem_envs

    env = aem_envs.make(args.env_id)
    options = {k: v for k, v in {"instance_id": args.instance_id, "split": args.split}.items() if v}
    obs, info = env.reset(seed=args.seed, options=options)
    print(f"== {args.env_id} · task {info['instance_id']} ({info['task_type']}) ==")
    _show(obs, info)
    oracle = getattr(env.unwrapped, "oracle_action", None)
    if args.oracle and (oracle is None or oracle() is None):
        print(f"{args.env_id} has no oracle", file=sys.stderr)
        return 2
    total, turns = 0.0, 0
    try:
        while args.max_turns is None or turns < args.max_turns:
            if args.oracle:
                action = oracle()
                print(f"\n> {action}")
            else:
                try:
                    action = input("\n> ")
                except EOFError:
                    break
                if action.strip() in {"quit", "exit"}:
                    break
            obs, reward, terminated, truncated, info = env.step(action)
            total, turns = total + reward, turns + 1
            print()
            _show(obs, info)
            if not info.get("is_action_valid", True):
                print("  (invalid action)")
            if terminated or truncated:
                break
    finally:
        env.close()
    print(f"\n== episode over after {turns} turns: return {total:g}, won={info.get('won')} ==")
    return 0
