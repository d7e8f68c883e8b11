"""Evaluation of an API model: independent vs lockstep scheduling, ``python -m benchmarks.api_eval``.

A simulated OpenAI-compatible endpoint (a local HTTP server) answers every chat request after a heavy-
tailed delay (lognormal, or Pareto with ``--latency pareto``), the way hosted APIs do; the agent is the
real ``openai:`` backend (the official client) and the episodes run through the real episode loop
(``aem/Household-v0``, every episode ``--turns`` turns). The delay of a request is a function of its
sampling seed, which depends only on the episode and the turn (``agents.episode.request_seed``), so both
schedules meet exactly the same delays. With ``lockstep`` every turn waits for the slowest of the 64
replies; with ``independent`` (the default for API agents) each episode goes at its own pace under the
concurrency cap. Prints a table with the episodes/s ratio (goal >= 1.8x at 64 concurrent episodes) and
writes ``benchmarks/results/api-eval/`` (table.md, results.json, finish.png).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GOAL = 1.8
OUT = Path(__file__).parent / "results" / "api-eval"


def delay(seed: int, kind: str, median: float, shape: float) -> float:
    """The endpoint's latency for a request with this sampling seed (seconds)."""
    rng = random.Random(seed)
    if kind == "pareto":  # scale chosen so the median is `median`; shape alpha
        return median / (2 ** (1 / shape)) * (1 - rng.random()) ** (-1 / shape)
    return median * math.exp(shape * rng.gauss(0.0, 1.0))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64 clients connect at once (the default backlog of 5 resets connections)


class Endpoint:
    """``POST /v1/chat/completions`` → ``<action>look</action>`` after ``delay(seed)``."""

    def __init__(self, kind: str, median: float, shape: float, cap_s: float = 30.0):
        ep = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                ep.requests += 1
                time.sleep(min(cap_s, delay(int(body.get("seed", 0)), kind, median, shape)))
                out = json.dumps({"id": "sim", "object": "chat.completion", "created": 0, "model": "sim",
                                  "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                      "role": "assistant", "content": "<action>look</action>"}}],
                                  "usage": {"prompt_tokens": 500, "completion_tokens": 20,
                                            "total_tokens": 520}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run(schedule: str, url: str, episodes: int, turns: int) -> dict[str, Any]:
    from aem_gym.agents import RolloutEngine, make_policy

    policy = make_policy(f"openai:sim@{url}", concurrency=episodes, logprobs=False)
    engine = RolloutEngine(workers=2, progress=False, max_concurrent=episodes, schedule=schedule)
    finish: list[float] = []
    t0 = time.perf_counter()
    try:
        res = engine.run("aem/Household-v0", list(range(episodes)), policy, max_turns=turns, seed=0,
                         on_done=lambda traj: finish.append(time.perf_counter() - t0))
    finally:
        policy.close()
    wall = time.perf_counter() - t0
    bad = [t.error or f"{t.length} turns" for t in res.trajectories if t.length != turns or t.error]
    if bad:
        raise RuntimeError(f"{len(bad)} episodes did not run to the end, e.g. {bad[0]}")
    return {"schedule": schedule, "wall_s": wall, "episodes_per_s": episodes / wall,
            "turns": len(res.turns), "finish_s": sorted(finish)}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for r in rows:
        ax.step(r["finish_s"], range(1, len(r["finish_s"]) + 1), where="post",
                label=f"{r['schedule']} ({r['episodes_per_s']:.2f} ep/s)")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("episodes finished")
    ax.set_title("64 API episodes, heavy-tailed latency")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=64, help="concurrent episodes (and the concurrency cap)")
    ap.add_argument("--turns", type=int, default=8, help="turns per episode")
    ap.add_argument("--latency", choices=["lognormal", "pareto"], default="lognormal")
    ap.add_argument("--median", type=float, default=0.25, help="median latency per request (s)")
    ap.add_argument("--shape", type=float, default=1.0,
                    help="lognormal sigma, or Pareto alpha (heavier tail when smaller)")
    ap.add_argument("--repeats", type=int, default=2, help="runs per schedule (alternating)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    endpoint = Endpoint(args.latency, args.median, args.shape)
    try:
        by: dict[str, list[dict[str, Any]]] = {"lockstep": [], "independent": []}
        for i in range(args.repeats):
            order = ["lockstep", "independent"] if i % 2 == 0 else ["independent", "lockstep"]
            for schedule in order:
                by[schedule].append(run(schedule, endpoint.url, args.episodes, args.turns))
                r = by[schedule][-1]
                print(f"  {schedule:11s} run {i + 1}: {r['wall_s']:.2f} s, "
                      f"{r['episodes_per_s']:.2f} episodes/s", flush=True)
    finally:
        endpoint.close()
    best = {s: min(rs, key=lambda r: r["wall_s"]) for s, rs in by.items()}
    eps = {s: sum(r["episodes_per_s"] for r in rs) / len(rs) for s, rs in by.items()}
    ratio = eps["independent"] / eps["lockstep"]
    lines = [f"latency {args.latency} (median {args.median} s, shape {args.shape}), "
             f"{args.episodes} episodes x {args.turns} turns, concurrency cap {args.episodes}, "
             f"mean of {args.repeats} runs", "",
             "| schedule | wall s | episodes/s | ratio |", "|---|---:|---:|---:|"]
    for s in ("lockstep", "independent"):
        wall = sum(r["wall_s"] for r in by[s]) / len(by[s])
        lines.append(f"| {s} | {wall:.2f} | {eps[s]:.2f} | {eps[s] / eps['lockstep']:.2f}x |")
    verdict = "meets" if ratio >= GOAL else "misses"
    lines += ["", f"independent / lockstep: {ratio:.2f}x episodes/s ({verdict} the {GOAL}x goal)"]
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / "results.json").write_text(json.dumps({"args": {k: str(v) if isinstance(v, Path) else v
                                                                for k, v in vars(args).items() if k != "out"},
                                                       "episodes_per_s": eps, "ratio": ratio,
                                                       "runs": by}, indent=1) + "\n", encoding="utf-8")
    plot([best["lockstep"], best["independent"]], args.out / "finish.png")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
