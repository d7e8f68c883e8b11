"""Infrastructure failures of a policy backend end an episode with status "error", never as the agent's
failure (agents.errors.BackendError; issue 20)."""

from __future__ import annotations

import pytest

from aem_gym.agents import BackendError, RolloutEngine, make_policy
from aem_gym.agents.types import Generation

ENV = "example/TreasureHunt-v0"


class Flaky:
    """The oracle, except that it fails for the episodes named in ``bad`` from turn ``at`` on."""

    needs_prompt = False

    def __init__(self, bad: set[int], at: int = 1, how: str = "raise"):
        self.oracle, self.bad, self.at, self.how = make_policy("oracle"), bad, at, how

    def generate(self, requests):
        gens = self.oracle.generate(requests)
        out = [None if r.context["seed"] in self.bad and r.context["turn"] >= self.at else g
               for r, g in zip(requests, gens, strict=True)]
        if self.how == "finish_reason":
            return [g or Generation(text="", finish_reason="error", error="HTTP 503") for g in out]
        if any(g is None for g in out):
            raise BackendError("HTTP 503 after 3 retries", generations=out)
        return out


@pytest.mark.parametrize("schedule", ["lockstep", "independent"])
@pytest.mark.parametrize("how", ["raise", "finish_reason"])
def test_backend_failure_marks_the_episode_error_and_leaves_it_out_of_success(schedule, how):
    res = RolloutEngine(workers=2, progress=False, schedule=schedule).run(
        ENV, tasks=range(4), policy=Flaky({1, 2}, how=how), max_turns=25)
    status = {t.seed: t.status for t in res.trajectories}
    assert status == {0: "ok", 1: "error", 2: "error", 3: "ok"}
    for t in res.trajectories:
        if t.status == "error":
            assert t.length == 1 and "HTTP 503" in t.error and not t.won  # the failed reply stepped nothing
            assert not any(r.action_text == "" for r in t.turns)
    s = res.summary()
    assert s["errors"] == 2 and s["success_rate"] == 1.0 and s["env_errors"] == 0


def test_backend_error_without_replies_fails_the_whole_call():
    class Down:
        needs_prompt = False

        def generate(self, requests):
            raise BackendError("connection refused")

    res = RolloutEngine(workers=1, progress=False).run(ENV, tasks=range(3), policy=Down(), max_turns=5)
    assert [t.status for t in res.trajectories] == ["error"] * 3
    assert res.summary()["errors"] == 3 and res.summary()["success_rate"] == 0.0


def test_other_policy_exceptions_still_stop_the_run():
    class Buggy:
        needs_prompt = False

        def generate(self, requests):
            raise KeyError("bug")

    with pytest.raises(KeyError):
        RolloutEngine(workers=1, progress=False).run(ENV, tasks=range(2), policy=Buggy(), max_turns=5)
