"""``make run``'s job on the example suite (fast): evaluates, submits, prints the ranking; reruns reuse."""

from __future__ import annotations

from aem_gym.cli import job
from aem_gym.leaderboard.store import Store


def test_main_job_evaluates_submits_and_reuses(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AEM_RUN_SUITE", "example")
    monkeypatch.setenv("AEM_RUN_EPISODES", "3")
    monkeypatch.setenv("AEM_LEADERBOARD_DB", str(tmp_path / "lb.sqlite"))
    monkeypatch.setattr(job, "RELEASED", tmp_path / "no-released-agents")  # oracle + random only: fast
    assert job.main() == 0
    out = capsys.readouterr().out
    assert "submitted as #1" in out and "submitted as #2" in out and "aem leaderboard serve" in out
    assert "TreasureHunt-v0:test · 3 tasks × 2 seeds · max turns 15" in out
    assert job.main() == 0  # second run: same results reused, resubmission is a no-op
    out = capsys.readouterr().out
    assert "reusing" in out and "already on the leaderboard as #1" in out
    assert Store(tmp_path / "lb.sqlite").count() == 2


def test_baseline_checkpoints_are_discovered(tmp_path):
    (tmp_path / "cpu-grpo+aem-seed0" / "final").mkdir(parents=True)
    (tmp_path / "cpu-grpo+aem-seed0" / "final" / "config.json").write_text("{}")
    (tmp_path / "cpu-grpo-seed0" / "final").mkdir(parents=True)  # unfinished: no model config
    assert job.baseline_agents(tmp_path) == [("cpu-grpo+aem-seed0",
                                              f"hf:{tmp_path}/cpu-grpo+aem-seed0/final")]
    local = tmp_path / "local"  # a local run of the same name replaces the released one
    (local / "cpu-grpo+aem-seed0" / "final").mkdir(parents=True)
    (local / "cpu-grpo+aem-seed0" / "final" / "config.json").write_text("{}")
    assert job.baseline_agents(tmp_path, local) == [("cpu-grpo+aem-seed0",
                                                     f"hf:{local}/cpu-grpo+aem-seed0/final")]
    spec = f"hf:{tmp_path}/cpu-grpo+aem-seed0/final"
    (tmp_path / "cpu-grpo+aem-seed0" / "config.yaml").write_text(
        "model: {max_new_tokens: 24}\nenv: {history: 2}\n")
    assert job.train_settings(spec) == {"max_new_tokens": 24, "history": 2, "max_concurrent": None,
                                        "history_tokens": None}
    (tmp_path / "cpu-grpo+aem-seed0" / "config.yaml").write_text(
        "model: {max_new_tokens: 20, constrain: admissible, max_prompt_tokens: 384}\nenv: {history: 0}\n"
        "eval: {temperature: 0.4}\n")
    assert job.train_settings(spec) == {"max_new_tokens": 20, "history": 0, "constrain": "admissible",
                                        "max_prompt_tokens": 384, "temperature": 0.4, "max_concurrent": None,
                                        "history_tokens": None}
    # a run whose final eval recorded its settings (the trainer writes them) is evaluated with those
    (tmp_path / "cpu-grpo+aem-seed0" / "final" / "eval.json").write_text(
        '{"settings": {"history": 1, "temperature": 0.7, "max_turns": 9, "constrain": null, '
        '"max_concurrent": null}}')
    assert job.train_settings(spec) == {"history": 1, "temperature": 0.7, "max_concurrent": None}


def test_released_baseline_agents_load_and_act_as_trained(monkeypatch, tmp_path):
    """The shipped cpu-tiny-household agents (GRPO and GRPO+AEM) are found by make run, carry their training
    settings (constrained decoding, no history) and, loaded as hf agents, reply with admissible actions."""
    import aem_envs
    from aem_gym.agents.policy import make_policy
    from aem_gym.agents.prompts import PromptState, parse_action, prompt_builder
    from aem_gym.agents.types import GenerationRequest, SamplingParams

    monkeypatch.setattr(job, "BASELINES", tmp_path / "no-local-runs")
    agents = dict(job.baseline_agents())
    assert set(agents) == {"cpu-tiny-household-grpo-seed0", "cpu-tiny-household-grpo+aem-seed0"}
    env = aem_envs.make("aem/Household-v0", split="valid_seen")
    obs, info = env.reset(seed=0)
    for spec in agents.values():
        settings = job.train_settings(spec)
        assert settings == {"max_new_tokens": 20, "history": 0, "constrain": "admissible",
                            "max_prompt_tokens": 384, "temperature": 0.4, "top_p": 1.0,
                            "max_concurrent": None,
                            "history_tokens": None}
        state = PromptState("aem/Household-v0", task=obs, observation=obs,
                            admissible_actions=info["admissible_actions"])
        req = GenerationRequest(prompt_builder("aem/Household-v0", k=0).build(state),
                                SamplingParams(max_new_tokens=20, temperature=0.4, seed=0,
                                               constrain="admissible"),
                                context={"admissible_actions": info["admissible_actions"]})
        (gen,) = make_policy(spec, device="cpu").generate([req])
        assert parse_action(gen.text) in info["admissible_actions"]
