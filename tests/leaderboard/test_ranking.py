from __future__ import annotations

import pytest

from aem_gym.leaderboard import ranking
from aem_gym.leaderboard.store import Store
from aem_gym.leaderboard.submit import submit


@pytest.fixture
def store(runs, db) -> Store:
    for name in ("random01", "oracle", "oracle3"):
        submit(runs[name], db=db, label=f"run {name}")
    return Store(db)


def test_ranking_orders_within_boards(store):
    t = ranking.ranking(store)
    full = t[t["board_label"].str.startswith("TreasureHunt-v0:test · 10 tasks × 2 seeds")]
    assert list(full["agent"]) == ["oracle", "random"] and list(full["rank"]) == [1, 2]
    assert full.iloc[0]["success"] == 1.0 and 0 < full.iloc[1]["success"] < 1
    assert full.iloc[1]["stderr"] is not None and full.iloc[1]["stderr"] > 0
    part = t[t["board_label"].str.startswith("TreasureHunt-v0:test · 3 tasks × 1 seeds")]
    assert list(part["rank"]) == [1]  # a 3-task run does not compete with full-split runs
    assert "example/TreasureHunt-v0" in t.columns


def test_filters(store):
    only = ranking.ranking(store, ranking.Filters(agent="RANDOM"))
    assert list(only["agent"]) == ["random"]
    by_label = ranking.ranking(store, ranking.Filters(agent="run oracle3"))
    assert len(by_label) == 1 and by_label.iloc[0]["episodes"] == 3
    t = ranking.ranking(store)
    board = t[t["agent"] == "random"]["board"].iloc[0]
    assert len(ranking.ranking(store, ranking.Filters(board=board[:8]))) == 2
    by_env = ranking.ranking(store, ranking.Filters(env="example/TreasureHunt-v0"))
    assert len(by_env) == 3
    with pytest.raises(ValueError, match="no submission covers env"):
        ranking.ranking(store, ranking.Filters(env="aem/Nope-v0"))


def test_per_env_and_task_type_tables(store):
    env = ranking.per_env(store)
    assert set(env["agent"]) == {"oracle", "random"} and (env["manifest_sha256"].str.len() == 64).all()
    rnd = env[env["agent"] == "random"].iloc[0]
    assert rnd["pass@max"] >= rnd["success_rate"]  # pass@3 is at least the single-attempt success
    tt = ranking.per_task_type(store)
    assert "example/TreasureHunt-v0:find_treasure" in tt.columns and len(tt) == 3


def test_empty_store(db):
    assert ranking.ranking(Store(db)).empty
