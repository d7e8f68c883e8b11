from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aem_gym.leaderboard.metrics import pass_at_k, stderr, summarize


@given(st.integers(1, 8).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_matches_enumeration(nck):
    n, c, k = nck
    attempts = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    expected = sum(any(attempts[i] for i in s) for s in subsets) / len(subsets)
    assert math.isclose(pass_at_k(n, c, k), expected, abs_tol=1e-12)


def test_pass_at_k_rejects_nonsense():
    with pytest.raises(ValueError, match="pass@k"):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError, match="pass@k"):
        pass_at_k(3, 1, 0)


def test_stderr():
    assert stderr([1.0]) is None
    assert math.isclose(stderr([0.0, 1.0]), 0.5)


def _row(env, iid, seed, won, score=None, ttype="a"):
    return {"env_id": env, "instance_id": iid, "seed": seed, "won": won,
            "score": float(won) if score is None else score,
            "task_type": ttype, "turns": 2, "invalid_actions": 1, "prompt_tokens": 3, "completion_tokens": 4,
            "wall_s": 0.5}


def test_summarize_per_env_task_type_and_macro_overall():
    rows = [_row("e/A-v0", "t1", 0, True), _row("e/A-v0", "t1", 1, False),
            _row("e/A-v0", "t2", 0, False, ttype="b"),
            _row("e/A-v0", "t2", 1, False, ttype="b"), _row("e/B-v0", "u", 0, True),
            _row("e/B-v0", "u", 1, True)]
    envs, overall = summarize(rows)
    a = envs["e/A-v0"]
    assert a["success_rate"] == 0.25 and a["episodes"] == 4 and a["instances"] == 2
    assert a["per_task_type"] == {"a": {"episodes": 2, "success_rate": 0.5, "mean_score": 0.5},
                                  "b": {"episodes": 2, "success_rate": 0.0, "mean_score": 0.0}}
    assert a["pass_at_k"] == {"2": 0.5}  # t1 solved in one of two attempts, t2 never
    assert a["per_seed_success"] == {"0": 0.5, "1": 0.0} and a["stderr_over_seeds"] == 0.25
    assert a["tokens"] == {"prompt": 12, "completion": 16} and a["invalid_action_rate"] == 0.5
    assert overall == {"success_rate": 0.625, "mean_score": 0.625, "episodes": 6,  # macro: (0.25 + 1) / 2
                       "errors": 0, "tokens": {"prompt": 18, "completion": 24}}


def test_backend_errors_are_not_attempts():
    ok = [_row("e/A-v0", "t1", 0, True), _row("e/A-v0", "t2", 0, False)]
    err = {**_row("e/A-v0", "t3", 0, False), "status": "error"}
    envs, overall = summarize([*ok, err])
    a = envs["e/A-v0"]
    assert a["success_rate"] == 0.5 and a["episodes"] == 2 and a["errors"] == 1 and overall["errors"] == 1
    assert a["tokens"] == {"prompt": 9, "completion": 12}  # the failed episode's tokens were still spent
