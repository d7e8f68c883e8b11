"""Ranking tables (pandas) from the leaderboard database.

Runs are only ranked against runs on the same *board* (``canonical.board_of``: env versions, manifest
hashes, resolved splits, turn limit and the exact (task, seed) set): a 3-task smoke run does not outrank a
full-split one. Within a board the order is overall success rate (macro mean over envs), then mean score,
then the earlier submission; all figures are the leaderboard's own, recomputed from replayed episodes. A
run that was *not reproduced* or carries a flag (copied trajectories, the oracle's play) is listed after
the ranked runs, without a rank.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pandas as pd

from aem_gym.leaderboard.metrics import stderr
from aem_gym.leaderboard.store import Store
from aem_gym.leaderboard.text import safe_text


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


def _unranked(row: pd.Series) -> bool:
    return row["reproduction"] == "not reproduced" or bool(row["flags"])


def ranking(store: Store, f: Filters | None = None) -> pd.DataFrame:
    """One row per submission: rank within its board, overall and per-env success, reproducibility columns."""
    f = f or Filters()
    subs = pd.DataFrame(store.submissions())
    cols = ["board", "board_label", "rank", "id", "agent", "spec", "label", "success", "stderr", "score",
            "episodes", "seeds", "reproduction", "flags", "submitted", "hash"]
    if subs.empty:
        return pd.DataFrame(columns=cols)
    summaries = {r["id"]: json.loads(r["summary"])
                 for r in store.query("SELECT id, summary FROM submissions")}
    subs["stderr"] = subs["id"].map(lambda i: _overall_stderr(summaries[i]))
    subs["flags"] = subs["flags"].map(lambda x: "; ".join(json.loads(x)))
    subs = subs.rename(columns={"agent_spec": "spec", "success_rate": "success", "mean_score": "score",
                                "content_sha256": "hash"})
    subs["hash"] = subs["hash"].str[:12]
    envs = pd.DataFrame(store.env_results())
    wide = envs.pivot(index="submission_id", columns="env_id", values="success_rate")
    env_cols = list(wide.columns)
    subs = subs.merge(wide, left_on="id", right_index=True, how="left")
    if f.board:
        subs = subs[(subs["board"] == f.board) | subs["board"].str.startswith(f.board)
                    | (subs["board_label"] == f.board)]
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
    if subs.empty:
        return pd.DataFrame(columns=cols)
    subs = subs.assign(_out=subs.apply(_unranked, axis=1))
    subs = subs.sort_values(["board", "_out", key, "score", "id"], ascending=[True, True, False, False, True])
    subs["rank"] = (subs.groupby("board").cumcount() + 1).astype("Int64")
    subs.loc[subs["_out"], "rank"] = pd.NA
    present = [c for c in env_cols if c in subs and subs[c].notna().any()]
    return subs[cols[:10] + present + cols[10:]].reset_index(drop=True)


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
        df = df[df["board"].str.startswith(f.board)]
    if f.agent:
        df = df[df["agent"].str.contains(f.agent, case=False, regex=False)]
    passk = df["pass_at_k"].map(json.loads)
    df = df.assign(**{"pass@max": passk.map(lambda d: d[max(d, key=int)] if d else None)})
    df = df.rename(columns={c: c.replace("self_reported_", "") + " (self-reported)"
                            for c in df.columns if c.startswith("self_reported_")})
    return df[["submission_id", "agent", "env_id", "split", "success_rate", "stderr", "mean_score",
               "pass@max", "episodes", "mean_turns", "invalid_action_rate", "prompt_tokens (self-reported)",
               "completion_tokens (self-reported)", "wall_s (self-reported)", "env_version",
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
        subs = subs[subs["board"].str.startswith(f.board)]
    if f.agent:
        subs = subs[subs["agent"].str.contains(f.agent, case=False, regex=False)]
    tt = tt.assign(column=tt["env_id"] + ":" + tt["task_type"])
    wide = tt.pivot(index="submission_id", columns="column", values="success_rate")
    out = subs.merge(wide, left_on="id", right_index=True, how="inner").reset_index(drop=True)
    return out.assign(board=out["board"].str[:8])


def render(store: Store, by: str = "overall", f: Filters | None = None, width: int = 160) -> str:
    """The ranking as printable text (``aem leaderboard show`` and ``make run``), as rich tables: one per
    board for ``by="overall"``, else the ``env`` or ``task-type`` table. No machine paths."""
    tables = {"overall": ranking, "env": per_env, "task-type": per_task_type}
    if by not in tables:
        raise ValueError(f"--by must be one of {sorted(tables)}, got {by!r}")
    table = tables[by](store, f)
    if table.empty:
        return f"no submissions match in {store.path.name}"
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    if by == "env":
        console.print(_rich(_compact_env(table), "per env (tokens and wall time are self-reported)"))
    elif by != "overall":
        console.print(_rich(table, by))
    else:
        for _, t in table.groupby("board", sort=True):
            label = t["board_label"].iloc[0]
            console.print(_rich(t.drop(columns=["board", "board_label", "hash"]), f"board {label}"))
    return console.export_text()


_SHORT = {"submission_id": "#", "success_rate": "success", "stderr": "± se", "mean_score": "score",
          "episodes": "eps", "mean_turns": "turns", "invalid_action_rate": "invalid",
          "env_version": "version", "manifest_sha256": "manifest"}


def _compact_env(df: pd.DataFrame) -> pd.DataFrame:
    """The per-env table for a terminal: short names, short hashes, tokens in one column."""
    sr = " (self-reported)"
    out = df.assign(env_id=df["env_id"].str.split("/").str[-1],
                    manifest_sha256=df["manifest_sha256"].str[:12],
                    tokens=df["prompt_tokens" + sr] + df["completion_tokens" + sr])
    out = out.drop(columns=["prompt_tokens" + sr, "completion_tokens" + sr]).rename(
        columns={**_SHORT, "wall_s" + sr: "wall s"})
    return out


def _cell(v: object) -> str:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}"
    return safe_text(str(v))


def _rich(df: pd.DataFrame, title: str):
    from rich.table import Table

    t = Table(title=safe_text(title), title_justify="left", show_lines=False)
    for c in df.columns:
        t.add_column(str(c).split("/")[-1], overflow="fold")
    for row in df.itertuples(index=False):
        t.add_row(*(_cell(v) for v in row))
    return t
