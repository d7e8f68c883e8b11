"""What a frontier LLM's replies meet in the episode loop (issue 20): the defaults of an evaluation, a reply
cut at the token limit, prompts with the step counter, and replay of cut replies."""

from __future__ import annotations

from aem_gym.agents import EpisodeSpec, EvalConfig, RolloutEngine
from aem_gym.agents.replay import replay, reply_for
from aem_gym.agents.types import Generation, Usage

ENV = "example/TreasureHunt-v0"


def test_eval_defaults_suit_a_frontier_model_and_are_recorded():
    cfg = EvalConfig()
    s = cfg.sampling()
    assert s.max_new_tokens >= 4096 and s.temperature == 0.0
    assert cfg.history is None and cfg.history_tokens >= 4000  # a token budget, not a fixed few turns
    rec = cfg.settings()
    assert rec["sampling"]["max_new_tokens"] == s.max_new_tokens and rec["sampling"]["temperature"] == 0.0
    assert rec["history_tokens"] == cfg.history_tokens


class Rambler:
    """Thinks too long on turn 1 (cut at the limit mid-action), then acts like the oracle; records prompts."""

    def __init__(self):
        self.prompts = []

    def generate(self, requests):
        out = []
        for r in requests:
            self.prompts.append(r.messages[-1]["content"])
            if r.context["turn"] == 1:
                out.append(Generation(text="Let me think. <action>go no", finish_reason="length",
                                      usage=Usage(completion_tokens=r.sampling.max_new_tokens)))
            else:
                out.append(Generation(text=f"<action>{r.context['oracle']()}</action>"))
        return out


def test_a_cut_reply_is_reported_as_cut_and_replays():
    pol = Rambler()
    eng = RolloutEngine(workers=1, progress=False, history_k=None, history_tokens=6000)
    res = eng.run(ENV, tasks=[(None, 0)], policy=pol, max_turns=20, sampling=EvalConfig().sampling())
    t = res.trajectories[0]
    cut = t.turns[1]
    assert cut.info["reply_cut"] == 4096 and cut.info["parse_error"] and not cut.is_action_valid
    assert t.turns[2].observation.startswith("Your reply was cut at 4096 tokens")
    assert "Invalid action format" not in t.turns[2].observation
    assert "Step 1 of 20" in pol.prompts[0] and "Step 3 of 20" in pol.prompts[2]
    assert "Your reply was cut at 4096 tokens" in pol.prompts[2]  # the agent is told
    replies = {t.traj_uid: [reply_for(r.info.get("parsed_action", ""), bool(r.info["parse_error"]),
                                      r.info.get("reply_cut")) for r in t.turns]}
    spec = EpisodeSpec(ENV, 0, t.instance_id, group_uid="g", traj_uid=t.traj_uid, max_turns=t.length)
    again = replay([spec], replies, 20, RolloutEngine(workers=1, progress=False)).trajectories[0]
    assert [r.observation for r in again.turns] == [r.observation for r in t.turns]
    assert again.final_observation == t.final_observation
