"""Crafted submissions, as a cheating submitter would make them: each is rejected (one clear message, no
traceback, no hang) or stored with a mark; the honest controls are accepted (docs/leaderboard.md)."""

from __future__ import annotations

import json

import pytest

from aem_gym.leaderboard.schema import EPISODES_FILE, SUMMARY_FILE
from aem_gym.leaderboard.store import Store
from aem_gym.leaderboard.submit import submit

from .tamper_kit import (
    edit_meta,
    edit_rows,
    edit_summary,
    read_rows,
    rehash,
    rejected,
    relabel_best_of,
    set_agent,
    traj_file,
    write_rows,
)

ENV = "example/TreasureHunt-v0"


# -- honest controls -----
def test_honest_controls_accepted_and_marked_reproduced(runs, db):
    for name in ("oracle", "random01"):
        acc = submit(runs[name], db=db)
        assert acc.result.created and acc.reproduction.status == "reproduced" and not acc.result.flags


# -- forged figures: the summary is recomputed, never trusted -----
@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        (("overall", "mean_score"), 99.0, "overall.mean_score is 99.0"),
        (("overall", "episodes"), 600, "overall.episodes is 600"),
        (("overall", "success_rate"), 1.0, "overall.success_rate is 1.0"),
        (("envs", ENV, "per_task_type", "find_treasure", "success_rate"), 1.0, "per_task_type.find_treasure"),
        (("envs", ENV, "pass_at_k", "2"), 1.0, "pass_at_k.2 is 1.0"),
        (("envs", ENV, "per_seed_success", "0"), 1.0, "per_seed_success.0 is 1.0"),
        (("envs", ENV, "stderr_over_seeds"), 0.0, "stderr_over_seeds is 0.0"),
        (("envs", ENV, "tokens", "prompt"), 123456, "tokens.prompt is 123456"),
        (("envs", ENV, "wall_s"), 0.001, "wall_s is 0.001"),
        (("envs", ENV, "mean_turns"), 1.0, "mean_turns is 1.0"),
        (("envs", ENV, "episodes"), 600, "episodes is 600"),
    ],
)
def test_forged_summary_field(copy, db, path, value, needle):
    run = copy("random01")

    def forge(s):
        d = s
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value

    edit_summary(run, forge)
    rejected(run, db, needle)


def test_forged_task_type_labels(copy, db):
    run = copy("random01")
    edit_rows(
        run / EPISODES_FILE, lambda rows: [r.update(task_type="hard_puzzle") for r in rows[:3]] and None
    )
    rehash(run)
    rejected(run, db, "task_type is 'hard_puzzle'", "the replay gives 'find_treasure'")


def test_forged_invalid_actions(copy, db):
    run = copy("invalid")

    def valid(trajs):
        for t in trajs:
            for u in t["turns"]:
                u["is_action_valid"] = True

    edit_rows(traj_file(run), valid)
    edit_rows(run / EPISODES_FILE, lambda rows: [r.update(invalid_actions=0) for r in rows] and None)
    rehash(run)
    rejected(run, db, "claimed is_action_valid=True, the env gives False")


def test_forged_win(copy, db):
    run = copy("random01")
    edit_rows(run / EPISODES_FILE, lambda rows: [r.update(won=True) for r in rows if not r["won"]] and None)
    rehash(run)
    rejected(run, db, "won is True in episodes.jsonl but the replay gives False")


def test_forged_tokens_rows(copy, db):
    run = copy("random01")
    set_agent(run, "my-llm", "hf:/models/my-llm")
    edit_rows(run / EPISODES_FILE, lambda rows: [r.update(prompt_tokens=10) for r in rows] and None)
    rehash(run)
    rejected(run, db, "prompt_tokens is 10 but its trajectory gives 0")


def test_no_model_agent_with_entropies(copy, db):
    run = copy("oracle")

    def ent(trajs):
        for t in trajs:
            for u in t["turns"]:
                u["entropy"] = 0.5

    edit_rows(traj_file(run), ent)
    rehash(run)
    rejected(run, db, "has no model, yet the run reports entropies")


# -- splits and boards -----
def test_split_relabel_of_top_level_label(copy, db):
    run = copy("train3")
    edit_meta(run, lambda m: m.update(split="auto"))
    edit_summary(run, lambda s: s.update(split="auto"))
    rejected(run, db, "records split 'train' but its split 'auto' resolves to 'test'")


def test_env_split_relabel(copy, db):
    run = copy("train3")
    edit_meta(run, lambda m: m["envs"][ENV].update(split="test"))
    rejected(run, db, "records split 'test' but its split 'train' resolves to 'train'")


def test_honest_train_run_gets_its_own_board(runs, extra, db):
    a, b = submit(runs["oracle3"], db=db), submit(extra["train3"], db=db)
    boards = {s["id"]: s["board_label"] for s in Store(db).submissions()}
    assert boards[a.result.id] != boards[b.result.id] and "TreasureHunt-v0:train" in boards[b.result.id]


# -- cherry-picking -----
def test_best_of_five_seeds_relabelled_as_one(copy, extra, db):
    run = copy("random-s0")
    relabel_best_of([extra[f"random-s{k}"] for k in range(5)], run)
    honest = json.loads((extra["random-s0"] / SUMMARY_FILE).read_text())["overall"]["success_rate"]
    assert json.loads((run / SUMMARY_FILE).read_text())["overall"]["success_rate"] > honest
    rejected(run, db, "not reproduced", "the agent now plays")


def test_one_episode_from_another_seed(copy, extra, db):
    run = copy("random-s0")
    other = {t["instance_id"]: t for t in read_rows(traj_file(extra["random-s3"]))}
    other_rows = {r["instance_id"]: r for r in read_rows(extra["random-s3"] / EPISODES_FILE)}
    trajs, rows = read_rows(traj_file(run)), read_rows(run / EPISODES_FILE)
    i = next(k for k, t in enumerate(trajs) if other[t["instance_id"]]["turns"] != t["turns"])
    iid, eid = trajs[i]["instance_id"], trajs[i]["episode_id"]
    trajs[i] = {**other[iid], "seed": 0, "episode_id": eid}
    rows[i] = {**other_rows[iid], "seed": 0, "episode_id": eid}
    write_rows(traj_file(run), trajs)
    write_rows(run / EPISODES_FILE, rows)
    rehash(run)
    from aem_gym.leaderboard.reproduce import reproduce
    from aem_gym.leaderboard.validate import validate

    sub = validate(run).submission  # replays fine: the env ignores the seed once the instance is given
    assert sub is not None and sub.verified
    rep = reproduce(sub.metadata, {eid: sub.trajectories[eid]}, sample=None)
    assert rep.status == "not reproduced" and eid in rep.detail["first_difference"]


def test_cherry_picked_model_run_is_self_reported(copy, extra, db):
    run = copy("random-s0")
    relabel_best_of([extra[f"random-s{k}"] for k in range(5)], run)
    set_agent(run, "my-llm", "hf:/nonexistent/my-llm")
    rehash(run)
    acc = submit(run, db=db)
    assert (
        acc.reproduction.status == "self-reported"
        and "not on this machine" in acc.reproduction.detail["reason"]
    )


@pytest.mark.parametrize(
    ("spec", "needle"),
    [("scripted:made-up", "unknown script 'made-up'"), ("random", "cannot build the agent here")],
)
def test_no_model_agent_that_cannot_be_rebuilt(copy, db, spec, needle):
    run = copy("random-s0")
    set_agent(run, "x", spec)
    if spec == "random":  # settings the evaluator cannot honour hide the agent from a re-run
        edit_meta(run, lambda m: m["settings"].update(sampling_seed="lucky"))
    rehash(run)
    rejected(run, db, "needs no model but cannot be re-run here", needle)
