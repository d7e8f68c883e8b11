"""Replay a submission's episodes and derive the *verified* episode rows from what the envs answered.

What replay must match, per env (docs/leaderboard.md, "Replay"):

* always: the reset observation, every turn's reward, action validity and terminated/truncated flags, the
  number of turns and the final ``won`` (the software-repair env re-grades the final patch on ``submit``);
* observations: exactly, unless the env declares them volatile with
  ``metadata["replay_observations"] = "volatile"``: the software-repair env, whose tool output holds
  pytest durations, ``date``, ``$RANDOM`` or ``mktemp`` names that differ on every run. Its observations
  are then stored as self-reported; the verdict still comes from re-grading.

On a mismatch the problem carries a short diff of the first differing observation.

The verified row of an episode takes ``won``, score, turns, invalid actions and ``task_type`` from the
replay (the env's own task data), never from the submission. While replaying, the env's oracle action at
each turn is noted (no extra env step), so a run that plays exactly the oracle's actions under another
agent's name can be told apart.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

REPLAY_WORKERS = 2  # env threads for replay (the software-repair env waits on its sandbox)
REPLAY_CONCURRENT = 16  # episodes replayed at once (each may hold a sandbox)
VOLATILE = "volatile"


@dataclass
class ReplayOutcome:
    problems: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # verified episode rows, submission order
    turns: int = 0
    oracle_turns: int = 0  # turns whose recorded action equals the env's oracle action there
    oracle_known: int = 0  # turns where the env had an oracle action


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def short_diff(recorded: str, replayed: str, lines: int = 6, width: int = 100) -> str:
    """The first few differing lines, ``-`` recorded and ``+`` replayed, each cut to ``width``."""
    out = []
    for ln in difflib.unified_diff(recorded.splitlines(), replayed.splitlines(), lineterm="", n=0):
        if ln.startswith(("---", "+++", "@@")):
            continue
        out.append(ln if len(ln) <= width else ln[:width] + "…")
        if len(out) >= lines:
            break
    return "\n      " + "\n      ".join(out) if out else " (whitespace or line endings differ)"


def compare_replay(rec: dict[str, Any], got: Any, observations: str = "exact") -> list[str]:
    """Problems between a recorded trajectory and its replay (``agents.records.Trajectory``); the first
    difference of an episode is enough."""
    eid, stopped, turns = rec["episode_id"], rec.get("stopped"), rec["turns"]
    if got.error is not None:
        return [f"replay {eid}: the env failed on replay ({got.error})"]
    if (turns or not stopped) and got.first_observation != rec["reset_observation"]:
        return [
            f"replay {eid}: first observation differs from the recorded one:"
            f"{short_diff(rec['reset_observation'], got.first_observation)}"
        ]
    for i, (t, row) in enumerate(zip(turns, got.turns, strict=False)):
        if observations != VOLATILE and row.observation != t["observation"]:
            return [
                f"replay {eid} turn {t['turn_idx']}: observation before the action differs:"
                f"{short_diff(t['observation'], row.observation)}"
            ]
        cut = i == got.length - 1 and got.budget_reached  # the loop stopped here, not the env
        flags = (row.done and not row.truncated, row.truncated and not cut)
        out = []
        if not _close(float(row.reward), t["reward"]):
            out.append(
                f"replay {eid} turn {t['turn_idx']}: claimed reward {t['reward']} but the env gives "
                f"{row.reward}"
            )
        if bool(row.is_action_valid) != t["is_action_valid"]:
            out.append(
                f"replay {eid} turn {t['turn_idx']}: claimed is_action_valid={t['is_action_valid']}, "
                f"the env gives {bool(row.is_action_valid)}"
            )
        if flags != (t["terminated"], t["truncated"]):
            out.append(
                f"replay {eid} turn {t['turn_idx']}: claimed terminated/truncated "
                f"{t['terminated']}/{t['truncated']}, the env gives {flags[0]}/{flags[1]}"
            )
        if out:
            return out
    if got.length < len(turns):
        return [f"replay {eid}: the episode ended at turn {got.length - 1} but more turns are recorded"]
    if turns and not stopped and not (turns[-1]["terminated"] or turns[-1]["truncated"]):
        return [f"replay {eid}: the recorded episode never ended (no terminated/truncated turn)"]
    if (
        observations != VOLATILE
        and (turns or not stopped)
        and got.final_observation != rec["final_observation"]
    ):
        return [
            f"replay {eid}: final observation differs from the recorded one:"
            f"{short_diff(rec['final_observation'], got.final_observation)}"
        ]
    return []


class _OracleWatch:
    """Wraps ``ReplayPolicy``: before answering, asks the env's oracle what it would have played."""

    needs_prompt = False
    name = "replay"

    def __init__(self, inner: Any):
        self.inner, self.seen = inner, {}

    def generate(self, requests: list[Any]) -> list[Any]:
        for r in requests:
            oracle = r.context.get("oracle")
            try:
                act = oracle() if callable(oracle) else None
            except Exception:  # noqa: BLE001 - an oracle that fails just gives no answer here
                act = None
            self.seen[(r.context["traj_uid"], r.context["turn"])] = act
        return self.inner.generate(requests)


def verified_row(claimed: dict[str, Any], got: Any) -> dict[str, Any]:
    """An episode row from the replay (``got``); tokens, wall time stay the submission's (self-reported)."""
    turns = got.turns
    return {
        "episode_id": claimed["episode_id"],
        "env_id": claimed["env_id"],
        "instance_id": claimed["instance_id"],
        "seed": claimed["seed"],
        "split": claimed["split"],
        "task_type": got.task_type,
        "won": bool(got.won),
        "score": round(sum(float(t.reward) for t in turns), 9),
        "turns": got.length,
        "invalid_actions": sum(not t.is_action_valid for t in turns),
        "terminated": bool(got.terminated),
        "truncated": bool(got.truncated),
        "prompt_tokens": claimed["prompt_tokens"],
        "completion_tokens": claimed["completion_tokens"],
        "wall_s": claimed["wall_s"],
        "trajectory_file": claimed["trajectory_file"],
    }


def run_replay(
    episodes: list[dict[str, Any]],
    trajectories: dict[str, dict[str, Any]],
    max_turns: int | None,
    rules: dict[str, str],
    progress: bool = False,
) -> ReplayOutcome:
    """Replay every episode; ``rules``: env id -> "exact" | "volatile" (observations)."""
    from aem_gym.agents.episode import EpisodeSpec
    from aem_gym.agents.replay import ReplayPolicy, reply_for
    from aem_gym.agents.rollout import RolloutEngine

    specs, replies = [], {}
    for r in episodes:
        t = trajectories[r["episode_id"]]
        replies[t["episode_id"]] = [
            reply_for(x["action"], bool(x["info"].get("parse_error")), x["info"].get("reply_cut"))
            for x in t["turns"]
        ]
        specs.append(
            EpisodeSpec(
                t["env_id"],
                t["seed"],
                t["instance_id"],
                group_uid=t["episode_id"],
                traj_uid=t["episode_id"],
                options={"split": r["split"]},
                max_turns=len(t["turns"]),
            )
        )
    engine = RolloutEngine(workers=REPLAY_WORKERS, progress=progress, max_concurrent=REPLAY_CONCURRENT)
    policy = _OracleWatch(ReplayPolicy(replies))
    try:
        result = engine.run_specs(specs, policy, max_turns=max_turns, desc="replay")
    finally:
        engine.close()
    out = ReplayOutcome()
    for r, got in zip(episodes, result.trajectories, strict=True):
        rec = trajectories[r["episode_id"]]
        msgs = compare_replay(rec, got, rules.get(r["env_id"], "exact"))
        out.turns += got.length
        out.problems += msgs
        out.rows.append(verified_row(r, got))
        for t in rec["turns"][: got.length]:
            act = policy.seen.get((r["episode_id"], t["turn_idx"]))
            if act is not None:
                out.oracle_known += 1
                out.oracle_turns += _same_action(str(act), t["action"])
    return out


def _same_action(a: str, b: str) -> bool:
    return " ".join(a.split()).lower() == " ".join(b.split()).lower()
