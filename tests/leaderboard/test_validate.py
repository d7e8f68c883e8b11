"""Validation and replay: valid runs pass; malformed, incomplete and tampered ones are rejected with a
message that says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from aem_gym.leaderboard.schema import EPISODES_FILE, METADATA_FILE, SUMMARY_FILE, TRAJ_DIR, content_sha256
from aem_gym.leaderboard.validate import validate


def _traj_file(run: Path) -> Path:
    return next((run / TRAJ_DIR).glob("*.jsonl"))


def _edit_jsonl(path: Path, fn) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows = fn(rows)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def _rehash(run: Path) -> None:
    """What a careful cheater does: recompute the content hash (and numbers) after editing."""
    from aem_gym.leaderboard.metrics import summarize

    s = json.loads((run / SUMMARY_FILE).read_text())
    eps = [json.loads(line) for line in (run / EPISODES_FILE).read_text().splitlines()]
    s["envs"], s["overall"] = summarize(eps)
    s["content_sha256"] = content_sha256(run)
    (run / SUMMARY_FILE).write_text(json.dumps(s))


def _problems(run: Path) -> str:
    report = validate(run)
    assert not report.ok, "tampered run was accepted"
    return "\n".join(report.problems)


def test_valid_run_replays(runs):
    report = validate(runs["random"])
    assert report.ok, report.problems
    assert report.episodes == 30 and report.replayed_turns > 30


def test_edited_reward_caught_by_hash(fresh):
    run = fresh("random")

    def edit(trajs):
        trajs[0]["turns"][0]["reward"] = 5.0
        return trajs

    _edit_jsonl(_traj_file(run), edit)
    assert "wrong hash" in _problems(run)


def test_edited_reward_caught_by_replay_even_when_rehashed(fresh):
    run = fresh("random")
    lost = next(json.loads(x) for x in (run / EPISODES_FILE).read_text().splitlines()
                if not json.loads(x)["won"])

    def win_traj(trajs):
        for t in trajs:
            if t["episode_id"] == lost["episode_id"]:
                t["turns"][-1]["reward"] = 1.0
        return trajs

    def win_row(rows):
        for r in rows:
            if r["episode_id"] == lost["episode_id"]:
                r["won"], r["score"] = True, r["score"] + 1.0
        return rows

    _edit_jsonl(_traj_file(run), win_traj)
    _edit_jsonl(run / EPISODES_FILE, win_row)
    _rehash(run)
    msg = _problems(run)
    assert f"replay {lost['episode_id']}" in msg and "claimed reward 1.0 but the env gives 0.0" in msg


def test_edited_action_caught_by_replay(fresh):
    run = fresh("oracle")

    def edit(trajs):
        trajs[0]["turns"][0]["action"] = "go nowhere"
        return trajs

    _edit_jsonl(_traj_file(run), edit)
    _rehash(run)
    msg = _problems(run)  # "go nowhere" is not admissible: the env says invalid, the run said valid
    assert "turn 0: claimed is_action_valid=True, the env gives False" in msg


def test_missing_episode(fresh):
    run = fresh("oracle")
    _edit_jsonl(run / EPISODES_FILE, lambda rows: rows[1:])
    _rehash(run)
    msg = _problems(run)
    assert "1 episode(s) of the board's (task, seed) set missing from episodes.jsonl" in msg
    assert "treasure-030|s0" in msg


def test_missing_trajectory(fresh):
    run = fresh("oracle")
    _edit_jsonl(_traj_file(run), lambda trajs: trajs[:-1])
    _rehash(run)
    assert "without a trajectory" in _problems(run)


def test_wrong_manifest_hash(fresh):
    run = fresh("oracle")
    meta = yaml.safe_load((run / METADATA_FILE).read_text())
    env = next(iter(meta["envs"]))
    meta["envs"][env]["manifest_sha256"] = "0" * 64
    (run / METADATA_FILE).write_text(yaml.safe_dump(meta))
    msg = _problems(run)
    assert "manifest_sha256" in msg and "different task data" in msg


def test_incomplete_coverage(fresh):
    run = fresh("oracle")
    meta = yaml.safe_load((run / METADATA_FILE).read_text())
    env = next(iter(meta["envs"]))
    dropped = meta["envs"][env]["instances"].pop()
    (run / METADATA_FILE).write_text(yaml.safe_dump(meta))
    msg = _problems(run)
    assert "instances are not the tasks split 'test' plans: 1 missing" in msg and dropped in msg


def test_inflated_summary(fresh):
    run = fresh("random")
    s = json.loads((run / SUMMARY_FILE).read_text())
    env = next(iter(s["envs"]))
    s["envs"][env]["success_rate"] = 0.99
    (run / SUMMARY_FILE).write_text(json.dumps(s))
    assert f"envs.{env}.success_rate is 0.99 but the verified episodes give" in _problems(run)


def test_malformed_files_name_file_line_and_field(fresh):
    run = fresh("oracle")
    lines = (run / EPISODES_FILE).read_text().splitlines()
    row = json.loads(lines[2])
    row["won"] = "yes"
    lines[2] = json.dumps(row)
    (run / EPISODES_FILE).write_text("\n".join(lines) + "\n")
    assert _problems(run) == "episodes.jsonl line 3: at 'won': 'yes' is not of type 'boolean'"

    (run / EPISODES_FILE).write_text("{not json\n")
    assert "episodes.jsonl line 1: not valid JSON" in _problems(run)

    (run / SUMMARY_FILE).unlink()
    assert _problems(run) == "summary.json is missing"


def test_not_a_directory(tmp_path):
    assert "is not a results directory" in _problems(tmp_path / "nope")


def test_partial_run_of_first_n_tasks_is_valid(runs):
    report = validate(runs["oracle3"])
    assert report.ok, report.problems
    assert report.episodes == 3


def test_every_env_records_a_manifest_hash(fresh):
    import aem_envs
    from aem_gym.agents.evaluate import env_record

    for env_id, split in (("aem/Household-v0", "valid_unseen"), ("aem/WebShop-v0", "test"),
                          ("example/TreasureHunt-v0", "test")):
        env = aem_envs.make(env_id)
        try:
            assert len(env_record(env, split)["manifest_sha256"] or "") == 64, env_id
        finally:
            env.close()
    run = fresh("oracle")  # a run without one cannot name its task data: refused
    meta = yaml.safe_load((run / METADATA_FILE).read_text())
    meta["envs"]["example/TreasureHunt-v0"]["manifest_sha256"] = None
    (run / METADATA_FILE).write_text(yaml.safe_dump(meta))
    assert "at 'envs.example/TreasureHunt-v0.manifest_sha256': None is not of type 'string'" in _problems(run)
