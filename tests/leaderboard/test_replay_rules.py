"""What replay must match per env: exact observations for deterministic text envs (a mismatch shows a short
diff), rewards/validity/verdict only for the software-repair env, whose tool output is volatile."""

from __future__ import annotations

import pytest

from aem_gym.agents.backends.scripted import script
from aem_gym.agents.evaluate import EvalConfig
from aem_gym.leaderboard.replaycheck import short_diff
from aem_gym.leaderboard.runner import evaluate
from aem_gym.leaderboard.store import Store
from aem_gym.leaderboard.submit import submit
from aem_gym.leaderboard.validate import validate

from .tamper_kit import edit_rows, rehash, traj_file

VOLATILE = "<bash>python3 -m pytest -q 2>&1 | tail -3; date +%s%N; echo $RANDOM; mktemp</bash>"


@script("pytest-then-oracle")
def _pytest_then_oracle(req, rng) -> str:
    """Runs the tests (timings), prints the time, a random number and a temp name, then plays the oracle."""
    return VOLATILE if req.context.get("turn", 0) == 0 else req.context["oracle"]()


def test_short_diff_names_the_lines():
    d = short_diff("a\nb\nc", "a\nB\nc")
    assert [ln.strip() for ln in d.strip().splitlines()] == ["-b", "+B"]  # only the changed lines
    assert len(short_diff("x" * 500, "y")) < 250  # long lines are cut


def test_edited_observation_is_rejected_with_a_diff(fresh):
    run = fresh("oracle")

    def edit(trajs):
        t = trajs[0]["turns"][1]
        t["observation"] = t["observation"].replace("You are in the", "You stand in the")

    edit_rows(traj_file(run), edit)
    rehash(run)
    msg = "\n".join(validate(run).problems)
    assert "turn 1: observation before the action differs:" in msg
    assert "-You stand in the" in msg and "+You are in the" in msg


def _swe_available() -> str | None:
    from aem_envs.swe.sandbox import runtime_status

    return runtime_status("bwrap")


@pytest.mark.skipif(_swe_available() is not None, reason=f"bwrap runtime unavailable: {_swe_available()}")
def test_honest_swe_run_with_pytest_output_is_accepted(tmp_path, db):
    out = evaluate(
        "scripted:pytest-then-oracle",
        EvalConfig(episodes=1, seeds=[0], progress=False),
        tmp_path / "swe",
        suite="aem/SWERepair-v0",
    )
    acc = submit(out, db=db)  # replayed (fresh timings, random numbers, temp names), then re-run at submit
    assert acc.result.created and acc.reproduction.status == "reproduced"
    ep = Store(db).episodes(acc.result.id)[0]
    assert ep["won"] == 1
    traj = Store(db).trajectory(acc.result.id, ep["episode_id"])["trajectory"]
    assert "/tmp/tmp." in traj["turns"][1]["observation"]  # the volatile output was recorded, and accepted

    # what replay still checks on this env: a forged verdict is rejected
    run = tmp_path / "swe-forged"
    import shutil

    shutil.copytree(out, run)

    def forge(trajs):
        trajs[0]["turns"][0]["reward"] = 0.5

    edit_rows(traj_file(run), forge)
    edit_rows(run / "episodes.jsonl", lambda rows: rows[0].update(score=rows[0]["score"] + 0.5))
    rehash(run)
    assert "claimed reward 0.5 but the env gives 0.0" in "\n".join(validate(run).problems)
