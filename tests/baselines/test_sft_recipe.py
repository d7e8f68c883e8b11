"""The CPU recipe's levers: compact household prompt, corrective SFT labels, lr schedule, eval task spread."""

from __future__ import annotations

import pytest


def _household_state():
    import aem_envs
    from aem_gym.agents.prompts import PromptState

    env = aem_envs.make("aem/Household-v0", split="train")
    obs, info = env.reset(seed=3)
    s = PromptState("aem/Household-v0", task=obs, observation=obs,
                    admissible_actions=info["admissible_actions"])
    a = env.unwrapped.oracle_action()
    obs2, *_ = env.step(a)
    env.close()
    return s, a, obs, obs2, info


def test_household_prompt_is_compact_but_keeps_goal_actions_and_observation():
    from aem_gym.agents.prompts import PromptBuilder, prompt_builder

    s, a, intro, obs2, info = _household_state()
    s.history, s.observation, s.turn = [(a, obs2)], obs2, 1
    compact = prompt_builder("aem/Household-v0", k=1).build(s)[1]["content"]
    default = PromptBuilder(k=1).build(s)[1]["content"]
    goal = next(ln for ln in intro.splitlines() if ln.startswith("Your task is to:"))
    assert goal in compact and "Welcome to TextWorld" not in compact
    assert f"Action: {a}" in compact and compact.count(obs2) == 1  # newest observation printed once
    assert ", ".join(info["admissible_actions"]) in compact
    assert len(compact) < 0.75 * len(default)
    # a task without the goal sentence is kept whole
    s.task = "find the key"
    assert "find the key" in prompt_builder("aem/Household-v0", k=1).build(s)[1]["content"]


def test_oracle_labels_differ_from_taken_actions_only_where_noise_acted(tiny_model_dir):
    from aem_gym.agents.tiny import load_tokenizer
    from aem_gym.baselines.config import load_config
    from aem_gym.baselines.sft import collect_demos

    tok = load_tokenizer(tiny_model_dir)
    base = {"model.init": str(tiny_model_dir), "sft.noise": 0.5, "env.max_turns": 6}
    taken = collect_demos(load_config("cpu-tiny-household", overrides={**base, "sft.label": "taken"}), tok, 4,
                          seed=1, progress=False)
    oracle = collect_demos(load_config("cpu-tiny-household", overrides={**base, "sft.label": "oracle"}),
                           tok, 4, seed=1, progress=False)
    assert [d.prompt_ids for d in taken] == [d.prompt_ids for d in oracle]  # same executed trajectories
    diff = sum(d.response_ids != e.response_ids for d, e in zip(taken, oracle, strict=True))
    assert 0 < diff < len(taken)
    # the action's tokens are exactly a span of the prompt's admissible list (copyable)
    def has_span(seq, sub):
        return any(seq[i:i + len(sub)] == sub for i in range(len(seq) - len(sub) + 1))

    assert all(has_span(d.prompt_ids, d.response_ids[1:-2]) for d in oracle)
    with pytest.raises(ValueError, match="sft.label"):
        collect_demos(load_config("cpu-tiny-household", overrides={**base, "sft.label": "best"}), tok, 1,
                      seed=1, progress=False)


def test_lr_schedule_warms_up_then_decays_to_a_tenth():
    from aem_gym.baselines.sft import lr_lambda

    f = lr_lambda("cosine", 0.1, 100)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.55) and f(100) == pytest.approx(0.1)
    assert all(f(i) >= f(i + 1) for i in range(10, 100))
    assert lr_lambda("constant", 0.0, 10)(7) == 1.0
    with pytest.raises(ValueError):
        lr_lambda("linear", 0.0, 10)


def test_eval_tasks_cover_every_task_type():
    import aem_envs
    from aem_gym.baselines.collect import eval_tasks
    from aem_gym.baselines.config import load_config

    cfg = load_config("cpu-tiny-household")
    env = aem_envs.make(cfg.env.id, split=cfg.env.eval_split)
    ids = env.unwrapped.tasks.ids(cfg.env.eval_split)
    types = {env.unwrapped.tasks.get(i)["task_type"] for i in ids}
    picks = eval_tasks(cfg, cfg.env.eval_split, 24)
    assert len(picks) == 24 and len({i for i, _ in picks}) == 24
    assert {env.unwrapped.tasks.get(i)["task_type"] for i, _ in picks} == types
    many = eval_tasks(cfg, cfg.env.eval_split, len(ids) + 5)
    from aem_envs.subsets import split_order

    # every id once, stratified
    assert [i for i, _ in many[:len(ids)]] == split_order(env, cfg.env.eval_split)
    assert sorted(i for i, _ in many[:len(ids)]) == sorted(ids) and {s for _, s in many[len(ids):]} == {1001}
    env.close()


def test_prompt_loss_adds_the_mean_cross_entropy_of_real_prompt_tokens_only():
    import torch

    from aem_gym.baselines.sft import Demo, _pack, response_and_prompt_loss

    # left/right padding both occur
    demos = [Demo([5, 6, 7, 8], [9, 2], False), Demo([6, 7], [3, 4, 2], False)]
    ids, attn, labels = _pack(demos, pad=0)
    logits = torch.randn(ids.shape[0], ids.shape[1], 12, generator=torch.Generator().manual_seed(0))
    logp = logits.log_softmax(-1)
    resp = response_and_prompt_loss(logits, ids, attn, labels, 0.0)
    want_resp = -torch.stack([logp[b, t - 1, ids[b, t]] for b in range(2) for t in range(1, ids.shape[1])
                              if labels[b, t] != -100]).mean()
    # prompt targets: every prompt token that has a real token before it
    # (3 in the first demo, 1 in the second)
    prompt_nll = [-logp[0, t - 1, ids[0, t]] for t in (1, 2, 3)] + [-logp[1, 2, ids[1, 3]]]
    assert ids[1, 2] == 6 and ids[1, 3] == 7 and attn[1, 1] == 0  # the second demo is left-padded by 2
    assert torch.allclose(resp, want_resp, atol=1e-6)
    both = response_and_prompt_loss(logits, ids, attn, labels, 0.5)
    assert torch.allclose(both, want_resp + 0.5 * torch.stack(prompt_nll).mean(), atol=1e-6)
