"""A tiny HF model acting through the whole stack: prompt → chat template → sampling → parser → env."""

from __future__ import annotations

import aem_envs
from aem_gym.agents import RolloutEngine, SamplingParams, make_policy


def _env_id() -> str:
    ids = {e.id for e in aem_envs.list_envs()}
    return "aem/Household-v0" if "aem/Household-v0" in ids else "example/TreasureHunt-v0"


def test_tiny_model_plays_the_household_env(tiny_dir, tmp_path):
    env_id = _env_id()
    policy = make_policy(f"hf:{tiny_dir}", device="cpu", seed=0)
    # A stop on the closing tag keeps random-weight answers short; the tag itself stays in the text.
    sp = SamplingParams(max_new_tokens=24, stop=["</action>"], include_stop_str_in_output=True)
    res = RolloutEngine(workers=2, progress=False, history_k=2).run(
        env_id, tasks=[(None, 0)], group_size=3, policy=policy, max_turns=3, sampling=sp,
        output_dir=tmp_path)
    assert len(res.trajectories) == 3 and len(res.turns) == 9  # random weights never win in 3 turns
    assert res.trajectories[0].instance_id == res.trajectories[1].instance_id
    tok = policy.tokenizer
    for r in res.turns:
        prompt = tok.decode(r.prompt_ids)
        assert prompt.startswith("<|im_start|>system") and prompt.endswith("<|im_start|>assistant\n")
        assert "Admissible actions:" in prompt  # both envs list them
        assert tok.decode(r.response_ids, skip_special_tokens=True).startswith(r.action_text)
        assert len(r.logprobs) == len(r.entropies) == len(r.response_ids) > 0
        assert all(lp <= 0 for lp in r.logprobs) and all(e >= 0 for e in r.entropies)
        # a random-weight model rarely writes a valid action: either way the env must answer, not raise
        assert isinstance(r.is_action_valid, bool) and "parse_error" in r.info
    assert (tmp_path / "turns.jsonl").stat().st_size > 0
