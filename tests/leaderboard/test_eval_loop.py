"""``aem eval`` on the one episode loop: unparsable replies go through the action parser as in training,
episodes the loop stops (timeout) are recorded as such and still verified by replay, settings are recorded,
and suites come from plugins."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from aem_envs.wrappers.action_parser import UNPARSABLE_OBSERVATION
from aem_gym.agents.evaluate import EvalConfig
from aem_gym.leaderboard import suites
from aem_gym.leaderboard.runner import evaluate
from aem_gym.leaderboard.validate import validate


def _trajs(run: Path) -> list[dict]:
    files = sorted((run / "trajectories").glob("*.jsonl"))
    return [json.loads(x) for f in files for x in f.read_text().splitlines()]


def _rewrite(run: Path, trajs: list[dict]) -> None:
    """What a careful cheater does: edit the trajectories, make the episode rows agree, rehash."""
    from tests.leaderboard.test_validate import _rehash

    (f,) = (run / "trajectories").glob("*.jsonl")
    f.write_text("".join(json.dumps(t, sort_keys=True) + "\n" for t in trajs))
    score = {t["episode_id"]: sum(x["reward"] for x in t["turns"]) for t in trajs}
    rows = [json.loads(x) for x in (run / "episodes.jsonl").read_text().splitlines()]
    rows = [{**r, "score": score[r["episode_id"]]} for r in rows]
    (run / "episodes.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    _rehash(run)


def test_unparsable_replies_get_the_parser_observation_and_replay(tmp_path):
    cfg = EvalConfig(episodes=2, max_turns=3, progress=False)
    run = evaluate("scripted:garbage", cfg, tmp_path / "g", suite="example")
    trajs = _trajs(run)
    for t in trajs:
        assert all(x["info"]["parse_error"] and not x["is_action_valid"] for x in t["turns"])
        assert t["turns"][1]["observation"].startswith(UNPARSABLE_OBSERVATION)  # not the env's own words
        assert t["turns"][0]["action"] == "I am not sure what to do."
    report = validate(run)
    assert report.ok, report.problems
    trajs[0]["turns"][0]["info"]["parse_error"] = False  # claim the env received the text: it did not
    _rewrite(run, trajs)
    assert not validate(run).ok


def test_settings_are_recorded(tmp_path):
    cfg = EvalConfig(episodes=1, max_turns=2, history=0, temperature=0.3, progress=False)
    run = evaluate("random", cfg, tmp_path / "r", suite="example")
    meta = yaml.safe_load((run / "metadata.yaml").read_text())
    assert meta["settings"]["history"] == 0 and meta["settings"]["sampling"]["temperature"] == 0.3
    assert meta["settings"]["max_concurrent"] == cfg.max_concurrent
    assert meta["agent"]["config"]["history"] == 0


def test_stopped_episode_is_recorded_and_replays(tmp_path, monkeypatch):
    import aem_example.env as ex

    step = ex.TreasureHuntEnv.step

    def slow_step(self, action):  # the third episode's second step hangs
        if self.task["instance_id"] == "treasure-033" and self.turn >= 1:
            time.sleep(3.0)
        return step(self, action)

    monkeypatch.setattr(ex.TreasureHuntEnv, "step", slow_step)
    cfg = EvalConfig(episodes=4, max_turns=6, episode_timeout_s=1.0, progress=False)
    run = evaluate("oracle", cfg, tmp_path / "o", suite="example")
    monkeypatch.setattr(ex.TreasureHuntEnv, "step", step)
    trajs = {t["instance_id"]: t for t in _trajs(run)}
    stopped = trajs["treasure-033"]
    assert stopped["stopped"] == "timeout" and len(stopped["turns"]) == 1  # the hung step: not recorded
    assert not stopped["turns"][-1]["terminated"] and not stopped["turns"][-1]["truncated"]
    assert all(t["stopped"] is None for i, t in trajs.items() if i != "treasure-033")
    rows = [json.loads(x) for x in (run / "episodes.jsonl").read_text().splitlines()]
    assert [r["won"] for r in rows].count(False) == 1
    report = validate(run)
    assert report.ok, report.problems
    stopped["turns"][-1]["reward"] = 1.0  # a stopped episode is still replayed, turn by turn
    _rewrite(run, list(trajs.values()))
    assert "claimed reward 1.0 but the env gives 0.0" in "\n".join(validate(run).problems)


def test_suites_come_from_plugins_and_a_broken_one_is_skipped(monkeypatch):
    assert suites.resolve_suite("example") == ("example", ["example/TreasureHunt-v0"])  # the plugin's
    assert suites.DESCRIPTIONS["example"] == "the example plugin's treasure hunt (fast; for tests and demos)"

    class Broken:
        name, value = "broken", "nowhere:suite"

        def load(self):
            raise ImportError("no module named nowhere")

    monkeypatch.setattr(suites, "_plugins_loaded", False)
    monkeypatch.setattr(suites, "SUITES", suites.SUITES.copy())
    monkeypatch.setattr(suites.metadata, "entry_points", lambda group: [Broken()])
    with pytest.warns(UserWarning, match="'broken'.*failed to load"):
        suites.load_plugin_suites()
    assert "broken" not in suites.SUITES


def test_backend_errors_are_left_out_of_success_and_counted(tmp_path):
    from aem_gym.agents import BackendError, make_policy, register_policy

    class HalfDown:  # the oracle, but the endpoint fails every episode of seed 1 on its second turn
        needs_prompt = False

        def __init__(self):
            self.oracle = make_policy("oracle")

        def generate(self, requests):
            gens = self.oracle.generate(requests)
            out = [None if r.context["seed"] == 1 and r.context["turn"] == 1 else g
                   for r, g in zip(requests, gens, strict=True)]
            if None in out:
                raise BackendError("HTTP 503 after retries", generations=out)
            return gens

    register_policy("test-halfdown")(lambda arg, **kw: HalfDown())
    cfg = EvalConfig(episodes=2, seeds=[0, 1], max_turns=20, progress=False)
    run = evaluate("test-halfdown", cfg, tmp_path / "h", suite="example")
    rows = [json.loads(x) for x in (run / "episodes.jsonl").read_text().splitlines()]
    assert sorted((r["seed"], r["status"]) for r in rows) == [(0, "ok"), (0, "ok"), (1, "error"),
                                                              (1, "error")]
    summary = json.loads((run / "summary.json").read_text())
    (env,) = summary["envs"].values()
    assert env["errors"] == 2 and env["episodes"] == 2 and env["success_rate"] == 1.0
    report = validate(run)  # a board takes complete runs only: an "error" label could hide hard tasks
    assert not report.ok and any("backend error" in p and "--resume" in p for p in report.problems)
