"""``make run``'s job on the example suite (fast): evaluates, submits, prints the ranking; reruns reuse."""

from __future__ import annotations

from leaderboard import job
from leaderboard.store import Store


def test_main_job_evaluates_submits_and_reuses(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AEM_RUN_SUITE", "example")
    monkeypatch.setenv("AEM_RUN_EPISODES", "3")
    monkeypatch.setenv("AEM_LEADERBOARD_DB", str(tmp_path / "lb.sqlite"))
    assert job.main() == 0
    out = capsys.readouterr().out
    assert "submitted as #1" in out and "submitted as #2" in out and "aem leaderboard serve" in out
    assert "example/auto/first3 (TreasureHunt-v0)" in out
    assert job.main() == 0  # second run: same results reused, resubmission is a no-op
    out = capsys.readouterr().out
    assert "reusing" in out and "already on the leaderboard as #1" in out
    assert Store(tmp_path / "lb.sqlite").count() == 2


def test_baseline_checkpoints_are_discovered(tmp_path):
    (tmp_path / "cpu-grpo+aem-seed0" / "final").mkdir(parents=True)
    (tmp_path / "cpu-grpo+aem-seed0" / "final" / "config.json").write_text("{}")
    (tmp_path / "cpu-grpo-seed0" / "final").mkdir(parents=True)  # unfinished: no model config
    assert job.baseline_agents(tmp_path) == [("cpu-grpo+aem-seed0", f"hf:{tmp_path}/cpu-grpo+aem-seed0/final")]
    (tmp_path / "cpu-grpo+aem-seed0" / "config.yaml").write_text("model: {max_new_tokens: 24}\nenv: {history: 2}\n")
    assert job._train_settings(f"hf:{tmp_path}/cpu-grpo+aem-seed0/final") == {"max_new_tokens": 24, "history": 2}
    (tmp_path / "cpu-grpo+aem-seed0" / "config.yaml").write_text(
        "model: {max_new_tokens: 20, constrain: admissible}\nenv: {history: 0}\n")
    assert job._train_settings(f"hf:{tmp_path}/cpu-grpo+aem-seed0/final") == {
        "max_new_tokens": 20, "history": 0, "constrain": "admissible"}
