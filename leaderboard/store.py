"""The leaderboard database: one SQLite file (WAL), safe for several processes submitting at once.

* A run is keyed by its ``content_sha256``: submitting the same results again returns the existing id
  (idempotent) instead of adding a row.
* Each submission is one ``BEGIN IMMEDIATE`` transaction (submission, per-env and per-task-type rows,
  episodes with their zlib-compressed trajectories), so a reader never sees half of one, and concurrent
  writers queue on SQLite's lock (``busy_timeout``) instead of failing.
* The database is self-contained: the web page's trajectory viewer reads episodes from it, so the results
  directory may be deleted after submitting.

Path: ``--db``, else ``$AEM_LEADERBOARD_DB``, else ``runs/leaderboard.sqlite``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DB = Path("runs/leaderboard.sqlite")
SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_sha256 TEXT NOT NULL UNIQUE,
    agent TEXT NOT NULL, agent_spec TEXT NOT NULL, label TEXT,
    suite TEXT NOT NULL, split TEXT NOT NULL, board TEXT NOT NULL,
    seeds TEXT NOT NULL, episodes INTEGER NOT NULL,
    success_rate REAL NOT NULL, mean_score REAL NOT NULL,
    created TEXT NOT NULL, submitted TEXT NOT NULL,
    metadata TEXT NOT NULL, summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS env_results (
    submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    env_id TEXT NOT NULL, episodes INTEGER NOT NULL, success_rate REAL NOT NULL, mean_score REAL NOT NULL,
    stderr REAL, pass_at_k TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
    wall_s REAL NOT NULL, mean_turns REAL NOT NULL, manifest_sha256 TEXT, env_version TEXT,
    PRIMARY KEY (submission_id, env_id)
);
CREATE TABLE IF NOT EXISTS task_type_results (
    submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    env_id TEXT NOT NULL, task_type TEXT NOT NULL, episodes INTEGER NOT NULL, success_rate REAL NOT NULL,
    PRIMARY KEY (submission_id, env_id, task_type)
);
CREATE TABLE IF NOT EXISTS episodes (
    submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    episode_id TEXT NOT NULL, env_id TEXT NOT NULL, instance_id TEXT NOT NULL, task_type TEXT NOT NULL,
    seed INTEGER NOT NULL, won INTEGER NOT NULL, score REAL NOT NULL, turns INTEGER NOT NULL,
    row TEXT NOT NULL, trajectory BLOB NOT NULL,
    PRIMARY KEY (submission_id, episode_id)
);
"""


def default_db_path(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("AEM_LEADERBOARD_DB") or DEFAULT_DB)


def board_key(metadata: dict[str, Any]) -> str:
    """Runs are ranked against runs of the same protocol: suite, split, tasks per env and the exact env
    set (a suite may leave out an env whose runtime is missing). The number of seeds may differ: success
    is a mean over episodes either way; it only changes the error bars and the pass@k columns."""
    n = metadata.get("episodes_per_env")
    envs = ",".join(e.split("/")[-1] for e in sorted(metadata["envs"]))
    return f"{metadata['suite']}/{metadata['split']}/{'all' if not n else f'first{n}'} ({envs})"


@dataclass
class SubmitResult:
    id: int
    created: bool  # False: the same run was already in the database


class Store:
    """Open (and create) the database. Each method opens its own short-lived connection, so one ``Store``
    may be shared by the web server's threads."""

    def __init__(self, path: str | Path | None = None, timeout_s: float = 60.0):
        self.path = default_db_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
        con.execute("PRAGMA foreign_keys=ON")
        try:
            yield con
        finally:
            con.close()

    def submit(self, summary: dict[str, Any], metadata: dict[str, Any], episodes: list[dict[str, Any]],
               trajectories: dict[str, dict[str, Any]], label: str | None = None) -> SubmitResult:
        """Store a validated run in one transaction; the same ``content_sha256`` again is a no-op."""
        key = summary["content_sha256"]
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")  # take the write lock first: no upgrade deadlock between writers
            try:
                row = con.execute("SELECT id FROM submissions WHERE content_sha256=?", (key,)).fetchone()
                if row is not None:
                    con.execute("ROLLBACK")
                    return SubmitResult(int(row["id"]), False)
                cur = con.execute(
                    "INSERT INTO submissions (content_sha256, agent, agent_spec, label, suite, split, board, seeds,"
                    " episodes, success_rate, mean_score, created, submitted, metadata, summary)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (key, summary["agent"], metadata["agent"]["spec"], label, summary["suite"], summary["split"],
                     board_key(metadata), json.dumps(summary["seeds"]), summary["overall"]["episodes"],
                     summary["overall"]["success_rate"], summary["overall"]["mean_score"], metadata["created"],
                     now, json.dumps(metadata), json.dumps(summary)))
                sid = int(cur.lastrowid)
                for env_id, s in summary["envs"].items():
                    m = metadata["envs"].get(env_id, {})
                    con.execute(
                        "INSERT INTO env_results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (sid, env_id, s["episodes"], s["success_rate"], s["mean_score"], s["stderr_over_seeds"],
                         json.dumps(s["pass_at_k"]), s["tokens"]["prompt"], s["tokens"]["completion"], s["wall_s"],
                         s["mean_turns"], m.get("manifest_sha256"), m.get("version")))
                    con.executemany(
                        "INSERT INTO task_type_results VALUES (?,?,?,?,?)",
                        [(sid, env_id, t, v["episodes"], v["success_rate"]) for t, v in s["per_task_type"].items()])
                con.executemany(
                    "INSERT INTO episodes VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    [(sid, r["episode_id"], r["env_id"], r["instance_id"], r["task_type"], r["seed"], int(r["won"]),
                      r["score"], r["turns"], json.dumps(r),
                      zlib.compress(json.dumps(trajectories[r["episode_id"]]).encode(), 6)) for r in episodes])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return SubmitResult(sid, True)

    # -- reads ----------------------------------------------------------------------------------------
    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        with self._connect() as con:
            return [dict(r) for r in con.execute(sql, params).fetchall()]

    def submissions(self) -> list[dict[str, Any]]:
        return self.query("SELECT id, content_sha256, agent, agent_spec, label, suite, split, board, seeds, "
                          "episodes, success_rate, mean_score, created, submitted FROM submissions ORDER BY id")

    def submission(self, sid: int) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM submissions WHERE id=?", (sid,))
        if not rows:
            return None
        out = rows[0]
        out["metadata"], out["summary"] = json.loads(out["metadata"]), json.loads(out["summary"])
        out["seeds"] = json.loads(out["seeds"])
        return out

    def env_results(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM env_results ORDER BY submission_id, env_id")

    def task_type_results(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM task_type_results ORDER BY submission_id, env_id, task_type")

    def episodes(self, sid: int) -> list[dict[str, Any]]:
        return self.query("SELECT episode_id, env_id, instance_id, task_type, seed, won, score, turns "
                          "FROM episodes WHERE submission_id=? ORDER BY env_id, seed, instance_id", (sid,))

    def trajectory(self, sid: int, episode_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT row, trajectory FROM episodes WHERE submission_id=? AND episode_id=?",
                          (sid, episode_id))
        if not rows:
            return None
        return {"episode": json.loads(rows[0]["row"]),
                "trajectory": json.loads(zlib.decompress(rows[0]["trajectory"]))}

    def count(self) -> int:
        return int(self.query("SELECT COUNT(*) AS n FROM submissions")[0]["n"])
