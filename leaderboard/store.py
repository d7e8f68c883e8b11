"""The leaderboard database: one SQLite file (WAL), safe for several processes submitting at once.

* A run is keyed by its ``content_sha256``: submitting the same results again returns the existing id
  (idempotent) instead of adding a row. The same *trajectories* under other bytes (``canonical``: lines
  reordered, wall time changed, files added, seeds relabelled) are refused as a duplicate; a run sharing
  most of its trajectories with another is stored with a flag.
* Figures are the ones recomputed from the replayed episodes; what replay cannot check (tokens, wall
  time, entropies, raw text) is kept apart as self-reported (docs/leaderboard.md).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DB = Path("runs/leaderboard.sqlite")
DB_VERSION = 2  # PRAGMA user_version: 2 = boards by content, verified figures, reproduction marks
SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_sha256 TEXT NOT NULL UNIQUE, canonical_sha256 TEXT NOT NULL, trajectories_sha256 TEXT NOT NULL,
    agent TEXT NOT NULL, agent_spec TEXT NOT NULL, label TEXT,
    suite TEXT NOT NULL, split TEXT NOT NULL, board TEXT NOT NULL, board_label TEXT NOT NULL,
    seeds TEXT NOT NULL, episodes INTEGER NOT NULL,
    success_rate REAL NOT NULL, mean_score REAL NOT NULL,
    created TEXT NOT NULL, submitted TEXT NOT NULL,
    metadata TEXT NOT NULL, summary TEXT NOT NULL, self_reported TEXT NOT NULL,
    reproduction TEXT NOT NULL, reproduction_detail TEXT, flags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_canonical ON submissions(canonical_sha256);
CREATE INDEX IF NOT EXISTS submissions_trajectories ON submissions(trajectories_sha256);
CREATE TABLE IF NOT EXISTS env_results (
    submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    env_id TEXT NOT NULL, episodes INTEGER NOT NULL, success_rate REAL NOT NULL, mean_score REAL NOT NULL,
    stderr REAL, pass_at_k TEXT NOT NULL, mean_turns REAL NOT NULL, invalid_action_rate REAL NOT NULL,
    split TEXT NOT NULL, manifest_sha256 TEXT NOT NULL, env_version TEXT NOT NULL,
    self_reported_prompt_tokens INTEGER NOT NULL, self_reported_completion_tokens INTEGER NOT NULL,
    self_reported_wall_s REAL NOT NULL,
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
    fingerprint TEXT NOT NULL, row TEXT NOT NULL, trajectory BLOB NOT NULL,
    PRIMARY KEY (submission_id, episode_id)
);
CREATE INDEX IF NOT EXISTS episodes_fingerprint ON episodes(fingerprint);
"""
REPRODUCTION = ("reproduced", "not reproduced", "self-reported")
COPY_SHARE = 0.5  # a run sharing this share of its trajectories with one other run is marked


def default_db_path(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("AEM_LEADERBOARD_DB") or DEFAULT_DB)


class DuplicateRun(ValueError):
    """The run's trajectories are already on the leaderboard (``existing``: that submission's id)."""

    def __init__(self, msg: str, existing: int):
        super().__init__(msg)
        self.existing = existing


@dataclass
class RunRecord:
    """What the store keeps of a validated run: every figure is recomputed from verified episodes
    (``summary``); what replay cannot check is kept apart in ``self_reported``."""

    content_sha256: str
    canonical_sha256: str
    trajectories_sha256: str
    agent: str
    agent_spec: str
    suite: str
    split: str
    board: str
    board_label: str
    seeds: list[int]
    metadata: dict[str, Any]
    summary: dict[str, Any]  # {"envs": ..., "overall": ...} from the verified rows (no tokens, no wall time)
    self_reported: dict[str, Any]
    episodes: list[dict[str, Any]]  # verified rows, each with "fingerprint" and "self_reported"
    trajectories: dict[str, dict[str, Any]]
    reproduction: str = "self-reported"
    reproduction_detail: dict[str, Any] | None = None
    flags: list[str] = field(default_factory=list)
    label: str | None = None


@dataclass
class SubmitResult:
    id: int
    created: bool  # False: the same run was already in the database
    flags: list[str] = field(default_factory=list)


class Store:
    """Open (and create) the database. Each method opens its own short-lived connection, so one ``Store``
    may be shared by the web server's threads."""

    def __init__(self, path: str | Path | None = None, timeout_s: float = 60.0):
        self.path = default_db_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("BEGIN IMMEDIATE")  # one creator at a time: the tables and their version together
            try:
                old = con.execute("SELECT name FROM sqlite_master WHERE name='submissions'").fetchone()
                version = con.execute("PRAGMA user_version").fetchone()[0]
                if old is not None and version != DB_VERSION:
                    raise ValueError(f"{self.path.name} was made by another aem-gym version (database format "
                                     f"{version}, this one reads {DB_VERSION}); give a new --db")
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        con.execute(stmt)
                con.execute(f"PRAGMA user_version={DB_VERSION}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

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

    def submit(self, run: RunRecord) -> SubmitResult:
        """Store a validated run in one transaction. The same bytes again return the existing id; the same
        trajectories under other bytes (reordered, re-timed, relabelled seeds) raise ``DuplicateRun``."""
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")  # take the write lock first: no upgrade deadlock between writers
            try:
                row = con.execute("SELECT id FROM submissions WHERE content_sha256=?",
                                  (run.content_sha256,)).fetchone()
                if row is not None:
                    con.execute("ROLLBACK")
                    return SubmitResult(int(row["id"]), False)
                self._refuse_duplicate(con, run)
                flags = run.flags + self._copies(con, run)
                sid = self._insert(con, run, flags, now)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return SubmitResult(sid, True, flags)

    @staticmethod
    def _refuse_duplicate(con: sqlite3.Connection, run: RunRecord) -> None:
        row = con.execute("SELECT id, agent, canonical_sha256 FROM submissions WHERE canonical_sha256=? OR "
                          "trajectories_sha256=? ORDER BY id LIMIT 1",
                          (run.canonical_sha256, run.trajectories_sha256)).fetchone()
        if row is not None:
            how = "" if row["canonical_sha256"] == run.canonical_sha256 else " (only the seed labels differ)"
            raise DuplicateRun(f"same trajectories as #{row['id']} ({row['agent']}){how}: the actions "
                               "of every episode are identical; timings, token counts, entropies and file "
                               "layout do not make a new run", int(row["id"]))

    @staticmethod
    def _copies(con: sqlite3.Connection, run: RunRecord) -> list[str]:
        prints = [e["fingerprint"] for e in run.episodes]
        if not prints:
            return []
        marks = ",".join("?" * len(set(prints)))
        # The same agent spec with the same seeds plays the same episodes (a subset run, a re-run): only a
        # run under another agent that shares trajectories is a copy.
        rows = con.execute(f"SELECT e.submission_id, e.fingerprint FROM episodes e JOIN submissions s ON "
                           f"s.id = e.submission_id WHERE s.agent_spec != ? AND e.fingerprint IN ({marks})",
                           (run.agent_spec, *set(prints))).fetchall()
        shared: dict[int, set[str]] = {}
        for r in rows:
            shared.setdefault(int(r["submission_id"]), set()).add(r["fingerprint"])
        out = []
        for sid, fps in sorted(shared.items()):
            share = sum(p in fps for p in prints) / len(prints)
            if share >= COPY_SHARE:
                out.append(f"shares {share:.0%} of its trajectories with #{sid}")
        return out

    @staticmethod
    def _insert(con: sqlite3.Connection, run: RunRecord, flags: list[str], now: str) -> int:
        ov = run.summary["overall"]
        cur = con.execute(
            "INSERT INTO submissions (content_sha256, canonical_sha256, trajectories_sha256, agent,"
            " agent_spec, label, suite, split, board, board_label, seeds, episodes, success_rate,"
            " mean_score, created, submitted, metadata, summary, self_reported, reproduction, "
            "reproduction_detail, flags)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run.content_sha256, run.canonical_sha256, run.trajectories_sha256, run.agent, run.agent_spec,
             run.label, run.suite, run.split, run.board, run.board_label, json.dumps(run.seeds),
             ov["episodes"], ov["success_rate"], ov["mean_score"], run.metadata["created"], now,
             json.dumps(run.metadata), json.dumps(run.summary), json.dumps(run.self_reported),
             run.reproduction, json.dumps(run.reproduction_detail), json.dumps(flags)))
        sid = int(cur.lastrowid)
        for env_id, s in run.summary["envs"].items():
            m, sr = run.metadata["envs"][env_id], run.self_reported["envs"][env_id]
            con.execute(
                "INSERT INTO env_results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (sid, env_id, s["episodes"], s["success_rate"], s["mean_score"], s["stderr_over_seeds"],
                 json.dumps(s["pass_at_k"]), s["mean_turns"], s["invalid_action_rate"], m["split"],
                 m["manifest_sha256"], m["version"], sr["prompt_tokens"], sr["completion_tokens"],
                 sr["wall_s"]))
            con.executemany(
                "INSERT INTO task_type_results VALUES (?,?,?,?,?)",
                [(sid, env_id, t, v["episodes"], v["success_rate"]) for t, v in s["per_task_type"].items()])
        con.executemany(
            "INSERT INTO episodes VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [(sid, r["episode_id"], r["env_id"], r["instance_id"], r["task_type"], r["seed"], int(r["won"]),
              r["score"], r["turns"], r["fingerprint"], json.dumps(r),
              zlib.compress(json.dumps(run.trajectories[r["episode_id"]]).encode(), 6))
             for r in run.episodes])
        return sid

    def set_reproduction(self, sid: int, status: str, detail: dict[str, Any]) -> None:
        """Record what ``aem leaderboard verify`` found for submission ``sid``."""
        if status not in REPRODUCTION:
            raise ValueError(f"reproduction status must be one of {REPRODUCTION}, got {status!r}")
        with self._connect() as con:
            con.execute("UPDATE submissions SET reproduction=?, reproduction_detail=? WHERE id=?",
                        (status, json.dumps(detail), sid))

    # -- reads ----------------------------------------------------------------------------------------
    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        with self._connect() as con:
            return [dict(r) for r in con.execute(sql, params).fetchall()]

    def submissions(self) -> list[dict[str, Any]]:
        return self.query("SELECT id, content_sha256, agent, agent_spec, label, suite, split, board, "
                          "board_label, seeds, episodes, success_rate, mean_score, created, submitted, "
                          "reproduction, flags FROM submissions ORDER BY id")

    def submission(self, sid: int) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM submissions WHERE id=?", (sid,))
        if not rows:
            return None
        out = rows[0]
        for key in ("metadata", "summary", "seeds", "self_reported", "reproduction_detail", "flags"):
            out[key] = json.loads(out[key]) if out[key] is not None else None
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
