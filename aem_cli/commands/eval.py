"""``aem eval``: evaluate an agent on a suite with fixed seeds and write a results directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from aem_gym.cli.registry import command


@command("eval", "evaluate an agent on a suite (or env ids) with fixed seeds; writes a results directory")
def configure(p: argparse.ArgumentParser) -> None:
    from aem_gym.agents.evaluate import EvalConfig

    d = EvalConfig()
    p.add_argument("--agent", required=True,
                   help="agent spec: oracle, random, scripted:NAME, hf:PATH, ..., or KIND:ARG of a plugin")
    p.add_argument("--suite", default="default",
                   help="suite name (default, or one a plugin registers) or comma-separated env ids")
    p.add_argument("--split", default=d.split,
                   help="split name for every env, or auto: each env's evaluation split")
    p.add_argument("--episodes", type=int, default=d.episodes,
                   help="tasks per env: the split's default subset of N, round robin over task types "
                        "(docs/subsets.md; default: all of it)")
    p.add_argument("--seeds", type=int, nargs="+", default=d.seeds, help="one attempt per task per seed")
    p.add_argument("--out", type=Path, required=True, help="results directory to create")
    p.add_argument("--max-turns", type=int, default=d.max_turns, help="truncate episodes after N turns")
    p.add_argument("--name", default=None, help="display name on the leaderboard (default: the agent's)")
    g = p.add_argument_group("model agents (recorded in metadata.yaml)")
    g.add_argument("--temperature", type=float, default=d.temperature,
                   help=f"sampling temperature (default {d.temperature}: greedy)")
    g.add_argument("--top-p", type=float, default=d.top_p, help="nucleus sampling mass")
    g.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens,
                   help=f"reply budget in tokens (default {d.max_new_tokens}); a reply cut there is told so")
    g.add_argument("--max-prompt-tokens", type=int, default=d.max_prompt_tokens,
                   help="keep the last N prompt tokens (hf agents; what the trainer's policy does)")
    g.add_argument("--history", type=_count, default=d.history,
                   help="at most N past turns in the prompt (default: no cap, --history-tokens decides)")
    g.add_argument("--history-tokens", type=_count, default=d.history_tokens,
                   help=f"past turns shown fit N estimated tokens, oldest dropped first (default "
                        f"{d.history_tokens}; 'none': no budget)")
    g.add_argument("--constrain", choices=["admissible"], default=d.constrain,
                   help="decode only replies naming an admissible action (hf agents; agents.constrained)")
    g.add_argument("--sampling-seed", type=int, default=d.sampling_seed, help="root of the per-request seeds")
    g.add_argument("--protocol", choices=["text", "tools"], default=d.protocol,
                   help="how the agent acts: text (<action> tags) or tools (function calls; "
                        "docs/api-agents.md)")
    g.add_argument("--extra-body", type=_json_object, default=None, metavar="JSON",
                   help="fields merged into every request of an openai: agent, e.g. "
                        "'{\"reasoning_effort\": \"low\"}'")
    g.add_argument("--prices", type=float, nargs=2, default=None, metavar=("PROMPT", "COMPLETION"),
                   help="USD per million prompt and completion tokens: the summary adds the cost")
    g = p.add_argument_group("execution")
    g.add_argument("--workers", type=int, default=d.workers, help="env workers (threads)")
    g.add_argument("--process-workers", action="store_true",
                   help="env workers are processes (CPU-bound envs)")
    g.add_argument("--max-concurrent", "--batch", type=int, default=d.max_concurrent,
                   help="episodes open at once (0: all); a model agent gets one batched call per turn "
                        "for them")
    g.add_argument("--schedule", choices=["auto", "lockstep", "independent"], default=d.schedule,
                   help="lockstep: one policy call for every ready episode; independent: one call per "
                        "episode, no barrier; auto (default): independent for openai: agents, else lockstep")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out (a killed run, or one with backend errors) without "
                        "redoing finished episodes")
    g.add_argument("--episode-timeout", type=float, default=d.episode_timeout_s,
                   help="wall-clock budget per episode in seconds (an episode over it is stopped)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def _count(text: str) -> int | None:
    """A non-negative integer, or ``none``."""
    if text.strip().lower() == "none":
        return None
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a count >= 0 or 'none', got {text!r}")
    return n


@configure.handler
def run(args: argparse.Namespace) -> int:
    from aem_gym.agents.evaluate import EvalConfig
    from aem_gym.leaderboard.runner import evaluate
    from aem_gym.leaderboard.schema import SUMMARY_FILE, load_json

    cfg = EvalConfig(split=args.split, episodes=args.episodes, seeds=args.seeds, max_turns=args.max_turns,
                     history=args.history, history_tokens=args.history_tokens, temperature=args.temperature,
                     top_p=args.top_p,
                     max_new_tokens=args.max_new_tokens, constrain=args.constrain,
                     max_prompt_tokens=args.max_prompt_tokens, sampling_seed=args.sampling_seed,
                     episode_timeout_s=args.episode_timeout, workers=args.workers,
                     process=args.process_workers, max_concurrent=args.max_concurrent or None,
                     schedule=args.schedule, protocol=args.protocol, extra_body=args.extra_body,
                     progress=not args.no_progress)
    out = evaluate(args.agent, cfg, args.out, suite=args.suite, name=args.name, resume=args.resume,
                   prices=tuple(args.prices) if args.prices else None)
    s = load_json(out / SUMMARY_FILE)
    for env_id, e in s["envs"].items():
        se = "" if e["stderr_over_seeds"] is None else f" ± {e['stderr_over_seeds']:.3f}"
        err = f", {e['errors']} errors" if e.get("errors") else ""
        print(f"{env_id:32s} success {e['success_rate']:.3f}{se}  score {e['mean_score']:.3f}  "
              f"({e['episodes']} episodes{err}, {e['wall_s']:.1f} s)")
    o = s["overall"]
    cost = f" · cost ${o['cost_usd']:.4f}" if "cost_usd" in o else ""
    print(f"tokens: {o['tokens']['prompt']} prompt, {o['tokens']['completion']} completion{cost}")
    if o["errors"]:
        from aem_gym.leaderboard.runner import first_error

        print(f"{o['errors']} episodes ended in a backend error (not counted in success), e.g. "
              f"{first_error(out)}\nrerun them with `aem eval ... --out {out} --resume`")
    print(f"overall success {o['success_rate']:.3f} · results in {out} · "
          f"submit with `aem leaderboard submit {out}`")
    return 0


def _json_object(text: str) -> dict:
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"reasoning_effort\": \"low\"}'")
    return value
