"""The SQLite store: idempotent resubmission, one transaction per run, concurrent submitters lose nothing."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest

from aem_gym.leaderboard.canonical import board_of
from aem_gym.leaderboard.store import Store
from aem_gym.leaderboard.submit import SubmissionRejected, submit

from .conftest import make_run


def test_submit_then_resubmit_is_idempotent(runs, db):
    first = submit(runs["oracle"], db=db)
    again = submit(runs["oracle"], db=db)
    assert first.result.created and not again.result.created and again.result.id == first.result.id
    store = Store(db)
    assert store.count() == 1
    assert len(store.episodes(first.result.id)) == 20
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_stored_episode_matches_its_jsonl(runs, db):
    import json

    sid = submit(runs["random"], db=db).result.id
    line = (runs["random"] / "trajectories" / "example__TreasureHunt-v0.jsonl").read_text().splitlines()[4]
    traj = json.loads(line)
    got = Store(db).trajectory(sid, traj["episode_id"])
    assert got["trajectory"] == traj
    assert Store(db).trajectory(sid, "no such episode") is None


def test_rejected_run_is_not_stored(fresh, db):
    run = fresh("oracle")
    (run / "episodes.jsonl").write_text("")
    with pytest.raises(SubmissionRejected, match="wrong hash"):
        submit(run, db=db)
    assert Store(db).count() == 0


def test_db_path_from_environment(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("AEM_LEADERBOARD_DB", str(tmp_path / "env.sqlite"))
    submit(runs["oracle3"])
    assert Store(tmp_path / "env.sqlite").count() == 1


def test_failed_transaction_leaves_nothing(runs, db):
    from aem_gym.leaderboard.reproduce import Reproduction
    from aem_gym.leaderboard.submit import record_of
    from aem_gym.leaderboard.validate import validate

    sub = validate(runs["oracle"]).submission
    rec = record_of(sub, None, Reproduction("self-reported"))
    rec.trajectories = dict(rec.trajectories)
    rec.trajectories.pop(sub.episodes[-1]["episode_id"])  # the last insert fails: KeyError mid-transaction
    with pytest.raises(KeyError):
        Store(db).submit(rec)
    store = Store(db)
    assert store.count() == 0 and store.query("SELECT COUNT(*) AS n FROM env_results")[0]["n"] == 0


def test_board_is_defined_by_content(runs):
    from aem_gym.leaderboard.validate import load_submission

    full, part = load_submission(runs["oracle"]), load_submission(runs["oracle3"])
    (bf, lf), (bp, lp) = board_of(full.metadata, full.episodes), board_of(part.metadata, part.episodes)
    assert bf != bp and len(bf) == 64
    assert lf.startswith("TreasureHunt-v0:test · 10 tasks × 2 seeds") and "3 tasks × 1 seeds" in lp
    # the top-level split label is not part of the board; each env's resolved split is
    meta = {**full.metadata, "split": "test"}
    assert board_of(meta, full.episodes)[0] == bf
    other = {**full.metadata, "envs": {e: {**r, "split": "train"} for e, r in full.metadata["envs"].items()}}
    assert board_of(other, full.episodes)[0] != bf
    # dropping one (task, seed) makes another board
    assert board_of(full.metadata, full.episodes[1:])[0] != bf


def _submit_all(args: tuple[str, list[str]]) -> list[tuple[int, bool]]:
    db, dirs = args
    return [(a.result.id, a.result.created) for a in (submit(d, db=db) for d in dirs)]


def test_concurrent_submits_from_processes_lose_nothing(runs, tmp_path, db):
    extra = [make_run(tmp_path / f"r{i}", agent="random", seeds=(i,), episodes=4) for i in range(3)]
    dirs = [str(runs["oracle"]), str(runs["random"]), *map(str, extra)]
    # four processes submit all five runs in different orders: each run twice or more at the same time
    orders = [dirs, dirs[::-1], dirs[2:] + dirs[:2], dirs[1:] + dirs[:1]]
    with mp.get_context("spawn").Pool(4) as pool:
        results = pool.map(_submit_all, [(str(db), o) for o in orders])
    store = Store(db)
    assert store.count() == len(dirs)
    created = [r for rs in results for r in rs if r[1]]
    assert len(created) == len(dirs)  # each run created exactly once, all other attempts were no-ops
    ids = {r[0] for rs in results for r in rs}
    assert ids == {s["id"] for s in store.submissions()}
    n_eps = store.query("SELECT COUNT(*) AS n FROM episodes")[0]["n"]
    assert n_eps == 20 + 30 + 3 * 4
    assert Path(db).exists()
