"""``aem eval --resume`` after a kill, backend errors as status "error", token and cost totals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aem_gym.agents.errors import BackendError
from aem_gym.agents.evaluate import EvalConfig
from aem_gym.agents.policy import make_policy, register_policy
from aem_gym.agents.types import Generation, Usage
from aem_gym.cli.main import main
from aem_gym.leaderboard.journal import JOURNAL_FILE, Journal, ResumeError
from aem_gym.leaderboard.runner import evaluate
from aem_gym.leaderboard.schema import EPISODES_FILE, SUMMARY_FILE
from aem_gym.leaderboard.validate import validate

ARGS = ["--suite", "example", "--episodes", "6", "--seeds", "0", "--no-progress", "--max-concurrent", "2",
        "--workers", "1"]
SLOW = """
import sys, time
from aem_gym.agents.policy import make_policy, register_policy
@register_policy("slow")
def _slow(arg, **kw):
    oracle = make_policy("oracle")
    class Slow:
        needs_prompt = False
        def generate(self, reqs):
            time.sleep(0.25)
            return oracle.generate(reqs)
    return Slow()
from aem_gym.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


class _Counting:
    """The oracle, recording which (instance, seed) it was asked about."""

    needs_prompt = False
    seen: set = set()

    def __init__(self):
        self.oracle = make_policy("oracle")

    def generate(self, reqs):
        for r in reqs:
            _Counting.seen.add(r.context["instance_id"])
        return [Generation(text=g.text, usage=Usage(100, 7)) for g in self.oracle.generate(reqs)]


register_policy("counting")(lambda arg, **kw: _Counting())


def _lines(out: Path) -> list[str]:
    return (out / JOURNAL_FILE).read_text().splitlines() if (out / JOURNAL_FILE).exists() else []


def test_resume_continues_a_killed_run_without_redoing_episodes(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", SLOW, "eval", "--agent", "slow", "--out", str(out), *ARGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(_lines(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _lines(out)
    assert 2 <= len(before) < 6, proc.stderr.read().decode()[-2000:]
    assert not (out / SUMMARY_FILE).exists()
    finished = {json.loads(x)["episode"]["instance_id"] for x in before}

    assert main(["eval", "--agent", "slow", "--out", str(out), *ARGS]) != 0  # refuses without --resume
    with pytest.raises(ResumeError, match="holds a run with other"):
        evaluate("counting", EvalConfig(seeds=[0], episodes=6, max_turns=3, progress=False), out,
                 suite="example",
                 resume=True)
    _Counting.seen = set()
    # the same run, resumed (the agent spec is part of the run: register the resumed policy under it)
    register_policy("slow")(lambda arg, **kw: _Counting())
    assert main(["eval", "--agent", "slow", "--out", str(out), "--resume", *ARGS]) == 0
    after = _lines(out)
    assert after[: len(before)] == before and len(after) == 6  # appended only, nothing redone
    assert not _Counting.seen & finished and _Counting.seen  # the finished tasks were not played again
    rows = [json.loads(x) for x in (out / EPISODES_FILE).read_text().splitlines()]
    assert len(rows) == 6 and all(r["won"] and r["status"] == "ok" for r in rows)
    assert validate(out, replay=False).ok


class _Failing:
    """Fails (a backend error) for the first task; the oracle elsewhere."""

    needs_prompt = False
    fail = True

    def __init__(self):
        self.oracle = make_policy("oracle")

    def generate(self, reqs):
        out = []
        for r, g in zip(reqs, self.oracle.generate(reqs), strict=True):
            if _Failing.fail and r.context["instance_id"].endswith("0"):
                out.append(Generation(text="", finish_reason="error", error="HTTP 503 after 4 attempts"))
            else:
                out.append(Generation(text=g.text, usage=Usage(1000, 10)))
        return out


register_policy("failing")(lambda arg, **kw: _Failing())


def test_backend_errors_are_not_losses_and_a_resume_reruns_them(tmp_path, capsys):
    out = tmp_path / "run"
    _Failing.fail = True
    assert main(["eval", "--agent", "failing", "--out", str(out), "--prices", "2", "10", *ARGS]) == 0
    printed = capsys.readouterr().out
    s = json.loads((out / SUMMARY_FILE).read_text())
    env = next(iter(s["envs"].values()))
    errors = env["errors"]
    assert errors >= 1 and env["episodes"] == 6 - errors and env["success_rate"] == 1.0
    assert f"{errors} episodes ended in a backend error" in printed and "--resume" in printed
    assert "HTTP 503 after 4 attempts" in printed  # what went wrong is shown (and kept in the trajectory)
    tok = s["overall"]["tokens"]
    assert (tok["prompt"]
            == 1000 * sum(json.loads(x)["turns"] for x in (out / EPISODES_FILE).read_text().splitlines()))
    assert s["overall"]["cost_usd"] == pytest.approx((tok["prompt"] * 2 + tok["completion"] * 10) / 1e6)
    report = validate(out, replay=False)  # the board takes complete runs only
    assert not report.ok and any("backend error" in p for p in report.problems)
    _Failing.fail = False
    assert main(["eval", "--agent", "failing", "--out", str(out), "--prices", "2", "10", "--resume",
                 *ARGS]) == 0
    s = json.loads((out / SUMMARY_FILE).read_text())
    env = next(iter(s["envs"].values()))
    assert env["errors"] == 0 and env["episodes"] == 6 and env["success_rate"] == 1.0
    assert validate(out, replay=False).ok  # resumed to completion: a board takes it


def test_a_torn_journal_line_is_dropped(tmp_path):
    from aem_gym.leaderboard.schema import EpisodeRow, TrajectoryRow

    j = Journal(tmp_path)
    assert j.open({"a": 1}, resume=False) == {}
    row = EpisodeRow("e|i|s0", "e", "i", "", "test", 0, True, 1.0, 1, 0, True, False, 0, 0, 0.1,
                     "trajectories/e.jsonl")
    j.append(row, TrajectoryRow("e|i|s0", "e", "i", 0, "", ""))
    j.close()
    with (tmp_path / JOURNAL_FILE).open("a") as f:
        f.write('{"episode": {"episode_id": "e|j')  # the kill cut this line
    done = Journal(tmp_path).open({"a": 1}, resume=True)
    assert list(done) == ["e|i|s0"] and len(_lines(tmp_path)) == 1
    with pytest.raises(ResumeError, match="--resume"):
        Journal(tmp_path).open({"a": 1}, resume=False)


def test_backend_error_raised_by_generate_marks_the_batch():
    from aem_gym.agents import RolloutEngine

    class Down:
        needs_prompt = False

        def generate(self, reqs):
            raise BackendError("cannot reach http://127.0.0.1:9/v1 (after 4 attempts)")

    res = RolloutEngine(workers=1, progress=False).run("aem/Household-v0", [0, 1], Down(), max_turns=3)
    assert [t.status for t in res.trajectories] == ["error", "error"]
    assert all("cannot reach" in t.error for t in res.trajectories)
