"""Default subsets are stratified over task types, deterministic, and the same in every process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

import aem_envs
from aem_envs.subsets import default_subset, split_order, stratified_order

TYPES = {f"t{i}": t for i, t in enumerate("a" * 10 + "b" * 4 + "c" * 1 + "d" * 5)}  # stored grouped by type


def _order(ids=None):
    return stratified_order(list(ids or TYPES), lambda i: (TYPES[i],))


def test_round_robin_order_is_the_documented_one():
    # types in sorted order, each type's tasks in stored order, one per type per round; c runs out first
    assert _order()[:9] == ["t0", "t10", "t14", "t15", "t1", "t11", "t16", "t2", "t12"]
    assert sorted(_order()) == sorted(TYPES)  # a permutation: nothing lost or repeated


@pytest.mark.parametrize("n", range(4, 21))
def test_every_type_appears_once_n_reaches_the_number_of_types(n):
    counts = Counter(TYPES[i] for i in _order()[:n])
    assert set(counts) == {"a", "b", "c", "d"}
    live = [t for t in counts if counts[t] < Counter(TYPES.values())[t]]  # types not yet exhausted
    assert max(counts[t] for t in live) - min(counts[t] for t in live) <= 1 if live else True


def test_same_n_same_subset_and_prefixes():
    assert _order() == _order()
    for n in range(1, 20):
        assert _order()[:n] == _order()[: n + 1][:n]


def test_subset_does_not_depend_on_the_input_order_beyond_the_stored_order_within_a_type():
    shuffled = ["t15", "t0", "t14", "t10", "t1", "t16", "t11", "t2", "t12", "t3", "t4", "t5", "t6", "t7",
                "t8", "t9", "t13", "t17", "t18", "t19"]
    assert _order(shuffled)[:4] == ["t0", "t10", "t14", "t15"]  # groups in sorted label order, not first seen


def test_nested_strata_balance_the_second_label_within_the_first():
    recs = {"x1": ("k", "p"), "x2": ("k", "p"), "x3": ("k", "q"), "x4": ("j", "p")}
    assert stratified_order(list(recs), lambda i: recs[i]) == ["x4", "x1", "x3", "x2"]


def test_household_default_subsets_cover_all_six_types():
    env = aem_envs.make("aem/Household-v0")
    try:
        tasks = env.unwrapped.tasks
        for split in ("valid_unseen", "valid_seen", "train"):
            first = tasks.ids(split)[:6]
            assert len({tasks.get(i)["task_type"] for i in first}) == 1  # the stored order groups by type
            for n in (6, 10):
                types = Counter(tasks.get(i)["task_type"] for i in default_subset(env, split, n))
                assert len(types) == 6 and sum(types.values()) == n
        assert default_subset(env, "valid_unseen", None) == split_order(env, "valid_unseen")
        assert sorted(split_order(env, "valid_unseen")) == sorted(tasks.ids("valid_unseen"))
        with pytest.raises(ValueError, match="n >= 0"):
            default_subset(env, "valid_unseen", -1)
    finally:
        env.close()


@pytest.mark.parametrize(("env_id", "kwargs", "split", "n", "strata"), [
    ("aem/WebShop-v0", {}, "test", 5, 5), ("aem/WebShop-v1", {}, "test", 5, 5),
    # swe-real (the default): one bug kind, so the second level (the project) spreads the subset
    ("aem/SWERepair-v0", {}, "train", 5, 5), ("aem/SWERepair-v0", {}, "test", 5, 5),
    ("aem/SWERepair-v0", {"instances_source": "swe-mini"}, "train", 5, 5)])
def test_other_envs_stratify_by_category_and_kind(env_id, kwargs, split, n, strata):
    try:
        env = aem_envs.make(env_id, **kwargs)
    except (ImportError, RuntimeError, OSError) as e:
        pytest.skip(f"{env_id} cannot start here: {e}")
    try:
        seen = {tuple(env.unwrapped.task_stratum(env.unwrapped.tasks.get(i)))
                for i in default_subset(env, split, n)}
        assert len(seen) == strata
    finally:
        env.close()


_CHILD = ("import json, aem_envs; from aem_envs.subsets import default_subset; "
          "e = aem_envs.make('aem/Household-v0'); print(json.dumps(default_subset(e, 'valid_unseen', 12)))")


def test_same_subset_in_other_processes_and_hash_seeds():
    env = aem_envs.make("aem/Household-v0")
    here = default_subset(env, "valid_unseen", 12)
    env.close()
    for seed in ("0", "12345"):
        out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        assert json.loads(out.stdout.strip().splitlines()[-1]) == here
