"""Ranking tables (pandas) from the leaderboard database.

Runs are only ranked against runs on the same *board* (suite, split, tasks per env, number of seeds; see
``store.board_key``): a 3-task smoke run does not outrank a full-split one. Within a board the order is
overall success rate (macro mean over envs), then mean score, then the earlier submission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from aem_gym.leaderboard.metrics import stderr
from aem_gym.leaderboard.store import Store


@dataclass
class Filters:
    board: str | None = None  # exact board key, or None for every board
    env: str | None = None  # only this env's column (and rank by it)
    agent: str | None = None  # substring of the agent name, spec or label
    split: str | None = None


def _overall_stderr(summary: dict) -> float | None:
    per_seed: dict[str, list[float]] = {}
    for s in summary["envs"].values():
        for seed, rate in s["per_seed_success"].items():
            per_seed.setdefault(seed, []).append(rate)
    return stderr([sum(v) / len(v) for v in per_seed.values()])


def ranking(store: Store, f: Filters | None = None) -> pd.DataFrame:
    """One row per submission: rank within its board, overall and per-env success, reproducibility columns."""
    f = f or Filters()
    subs = pd.DataFrame(store.submissions())
    cols = ["board", "rank", "id", "agent", "spec", "label", "success", "stderr", "score", "episodes", "seeds",
            "submitted", "hash"]
    if subs.empty:
        return pd.DataFrame(columns=cols)
    summaries = {r["id"]: json.loads(r["summary"]) for r in store.query("SELECT id, summary FROM submissions")}
    subs["stderr"] = subs["id"].map(lambda i: _overall_stderr(summaries[i]))
    subs = subs.rename(columns={"agent_spec": "spec", "success_rate": "success", "mean_score": "score",
                                "content_sha256": "hash"})
    subs["hash"] = subs["hash"].str[:12]
    envs = pd.DataFrame(store.env_results())
    wide = envs.pivot(index="submission_id", columns="env_id", values="success_rate")
    env_cols = list(wide.columns)
    subs = subs.merge(wide, left_on="id", right_index=True, how="left")
    if f.board:
        subs = subs[subs["board"] == f.board]
    if f.split:
        subs = subs[subs["split"] == f.split]
    if f.agent:
        needle = f.agent.lower()
        subs = subs[subs[["agent", "spec", "label"]].fillna("").apply(
            lambda r: any(needle in str(x).lower() for x in r), axis=1)]
    key = "success"
    if f.env:
        if f.env not in env_cols:
            raise ValueError(f"no submission covers env {f.env!r}; envs on the board: {env_cols}")
        subs = subs[subs[f.env].notna()]
        env_cols, key = [f.env], f.env
    subs = subs.sort_values(["board", key, "score", "id"], ascending=[True, False, False, True])
    subs["rank"] = subs.groupby("board").cumcount() + 1
    present = [c for c in env_cols if c in subs and subs[c].notna().any()]
    return subs[cols[:9] + present + cols[9:]].reset_index(drop=True)


def per_env(store: Store, f: Filters | None = None) -> pd.DataFrame:
    """Long table: one row per (submission, env) with success, std-err over seeds, pass@k, tokens, time."""
    f = f or Filters()
    envs = pd.DataFrame(store.env_results())
    if envs.empty:
        return envs
    subs = pd.DataFrame(store.submissions())[["id", "agent", "board"]]
    df = envs.merge(subs, left_on="submission_id", right_on="id").drop(columns=["id"])
    if f.env:
        df = df[df["env_id"] == f.env]
    if f.board:
        df = df[df["board"] == f.board]
    if f.agent:
        df = df[df["agent"].str.contains(f.agent, case=False, regex=False)]
    passk = df["pass_at_k"].map(json.loads)
    df = df.assign(**{"pass@max": passk.map(lambda d: d[max(d, key=int)] if d else None)})
    return df[["submission_id", "agent", "board", "env_id", "success_rate", "stderr", "mean_score", "pass@max",
               "episodes", "mean_turns", "prompt_tokens", "completion_tokens", "wall_s", "env_version",
               "manifest_sha256"]].sort_values(["env_id", "success_rate"], ascending=[True, False])


def per_task_type(store: Store, f: Filters | None = None) -> pd.DataFrame:
    """Wide table: rows = submissions, columns = ``env_id:task_type`` success rates."""
    f = f or Filters()
    tt = pd.DataFrame(store.task_type_results())
    if tt.empty:
        return tt
    if f.env:
        tt = tt[tt["env_id"] == f.env]
    subs = pd.DataFrame(store.submissions())[["id", "agent", "board"]]
    if f.board:
        subs = subs[subs["board"] == f.board]
    if f.agent:
        subs = subs[subs["agent"].str.contains(f.agent, case=False, regex=False)]
    tt = tt.assign(column=tt["env_id"] + ":" + tt["task_type"])
    wide = tt.pivot(index="submission_id", columns="column", values="success_rate")
    return subs.merge(wide, left_on="id", right_index=True, how="inner").reset_index(drop=True)


def render(store: Store, by: str = "overall", f: Filters | None = None) -> str:
    """The ranking as printable text (``aem leaderboard show`` and ``make run``): one table per board for
    ``by="overall"``, else the ``env`` or ``task-type`` table."""
    tables = {"overall": ranking, "env": per_env, "task-type": per_task_type}
    if by not in tables:
        raise ValueError(f"--by must be one of {sorted(tables)}, got {by!r}")
    table = tables[by](store, f)
    if table.empty:
        return f"no submissions match in {store.path}"
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 40,
                           "display.float_format", "{:.3f}".format):
        if by != "overall":
            return table.to_string(index=False)
        return "\n".join(f"\n== {board} ==\n" + t.drop(columns=["board"]).to_string(index=False)
                         for board, t in table.groupby("board", sort=True))
