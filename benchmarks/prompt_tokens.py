"""Prompt length per turn of ``aem eval``'s own prompts: ``python -m benchmarks.prompt_tokens``.

An oracle agent that takes a random admissible action on 30 % of its turns (so episodes run long enough
for history to matter; SWE has no admissible list, so there it is the plain oracle) plays the first
``--episodes`` evaluation tasks of each env under ``EvalConfig``'s defaults, asking for a rendered prompt
every turn as a model agent does. Tokens are estimated offline at 4 characters per token (no frontier
tokenizer is available here; the ratio between layouts is what matters). Each env is measured twice in the
same run: with ``aem eval``'s defaults (history by token budget) and, as the reference, with a fixed
2-turn window (the trainer's layout); the table gives the ratio. ``--label`` stores the table
under ``benchmarks/results/prompt_tokens-LABEL.json`` so layouts measured at different commits can be
compared (docs/llm-agents.md has the before/after table).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

ENVS = {"household": "aem/Household-v0", "webshop": "aem/WebShop-v0", "swe-mini": "aem/SWERepair-v0"}
CHARS_PER_TOKEN = 4.0


class MeteredOracle:
    """Oracle with ``noise`` random admissible actions; records each rendered prompt's length."""

    needs_prompt = True
    name = "metered-oracle"

    def __init__(self, noise: float = 0.3):
        self.noise, self.chars = noise, []

    def generate(self, requests):
        from aem_gym.agents.prompts import format_action
        from aem_gym.agents.types import Generation

        out = []
        for r in requests:
            self.chars.append(sum(len(m["content"]) for m in r.messages))
            rng = random.Random(r.sampling.seed)
            acts = r.context.get("admissible_actions")
            action = None
            if acts and rng.random() < self.noise:
                action = rng.choice(acts)
                if action.startswith("search["):
                    action = r.context["oracle"]()
            action = action or r.context["oracle"]() or "look"
            out.append(Generation(text=format_action(action)))
        return out


def measure(env_id: str, episodes: int, **layout) -> dict[str, float]:
    from aem_gym.agents.evaluate import EvalConfig, plan_env, run_plan

    cfg = EvalConfig(episodes=episodes, progress=False, workers=1, **layout)
    policy = MeteredOracle()
    result = run_plan(policy, plan_env(env_id, cfg), cfg)
    c = policy.chars
    return {"episodes": len(result.trajectories), "turns": len(c),
            "mean_chars": round(statistics.fmean(c), 1),
            "mean_tokens_est": round(statistics.fmean(c) / CHARS_PER_TOKEN, 1),
            "max_tokens_est": round(max(c) / CHARS_PER_TOKEN, 1),
            "success": sum(t.won for t in result.trajectories) / len(result.trajectories)}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=8, help="tasks per env (SWE: at most 3)")
    ap.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    ap.add_argument("--label", default=None,
                    help="save the table as benchmarks/results/prompt_tokens-LABEL.json")
    args = ap.parse_args(argv)
    table = {}
    for name in args.envs:
        n = min(args.episodes, 3) if name == "swe-mini" else args.episodes
        try:
            table[name] = measure(ENVS[name], n)
            table[name]["window2_tokens_est"] = measure(ENVS[name], n, history=2, history_tokens=None)[
                "mean_tokens_est"]
        except Exception as e:  # a runtime missing here (no sandbox): report it, measure the others
            print(f"{name}: skipped ({type(e).__name__}: {e})")
    print(f"{'env':10s} {'episodes':>8s} {'turns':>6s} {'chars/turn':>11s} {'tokens/turn':>12s} "
          f"{'max tokens':>11s} {'2-turn window':>14s} {'ratio':>6s}")
    for name, r in table.items():
        ratio = r["mean_tokens_est"] / r["window2_tokens_est"]
        print(f"{name:10s} {r['episodes']:8d} {r['turns']:6d} {r['mean_chars']:11.0f} "
              f"{r['mean_tokens_est']:12.0f} {r['max_tokens_est']:11.0f} {r['window2_tokens_est']:14.0f} "
              f"{ratio:6.2f}")
    if args.label:
        out = Path(__file__).parent / "results" / f"prompt_tokens-{args.label}.json"
        out.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        print(f"saved {out}")
    return table


if __name__ == "__main__":
    main()
