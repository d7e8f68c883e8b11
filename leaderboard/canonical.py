"""Canonical content of a run: what makes two runs "the same", and which board a run belongs to.

* A **trajectory fingerprint** hashes what an episode *did*: env, instance and the sequence of actions the
  env received (an unparsable reply counts as one "unparsable" action). Observations, rewards and verdicts
  follow from these by replay; wall time, token counts, entropies, raw text, line order, blank lines and
  file names do not enter, so re-serialising or re-timing a copied run does not change it.
* A run's **canonical hash** is the hash of its sorted (fingerprint, seed) list; its **trajectory hash**
  drops the seed labels (a copy relabelled to other seeds has the same one).
* A **board** is defined by content (docs/leaderboard.md, "Boards"): each env's id, task set, version,
  manifest hash and *resolved* split, the turn limit, and the exact (env, task, seed) set.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

UNPARSABLE = "\0unparsable"


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def actions_of(traj: dict[str, Any]) -> list[str]:
    """The actions the env received, whitespace-normalised (an unparsable reply as ``UNPARSABLE``)."""
    return [
        UNPARSABLE if t.get("info", {}).get("parse_error") else " ".join(str(t["action"]).split())
        for t in traj["turns"]
    ]


def fingerprint(traj: dict[str, Any]) -> str:
    """Seed-free fingerprint of one episode."""
    return _sha([traj["env_id"], traj["instance_id"], actions_of(traj)])


def run_hashes(trajectories: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """``(canonical, trajectories)``: with and without the seed labels; order-insensitive."""
    prints = sorted((fingerprint(t), t["seed"]) for t in trajectories.values())
    return _sha([[f, s] for f, s in prints]), _sha([f for f, _ in prints])


def board_of(metadata: dict[str, Any], episodes: list[dict[str, Any]]) -> tuple[str, str]:
    """``(board id, label)`` of a run; the id is a sha256 over the board's content."""
    envs = {
        e: {k: r[k] for k in ("task_set", "version", "manifest_sha256", "split")}
        for e, r in sorted(metadata["envs"].items())
    }
    pairs = sorted([r["env_id"], r["instance_id"], r["seed"]] for r in episodes)
    bid = _sha({"envs": envs, "max_turns": metadata.get("max_turns"), "episodes": pairs})
    tasks = len({(e, i) for e, i, _ in pairs})
    seeds = len({s for _, _, s in pairs})
    where = ", ".join(f"{e.split('/')[-1]}:{r['split']}" for e, r in envs.items())
    turns = metadata.get("max_turns") or "env"
    return bid, f"{where} · {tasks} tasks × {seeds} seeds · max turns {turns} · {bid[:8]}"
