"""``aem eval`` and ``aem leaderboard`` end to end, in-process."""

from __future__ import annotations

import json

from aem_gym.cli.main import main


def test_eval_submit_show(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AEM_LEADERBOARD_DB", str(tmp_path / "lb.sqlite"))
    out = tmp_path / "res"
    assert main(["eval", "--agent", "oracle", "--suite", "example/TreasureHunt-v0", "--episodes", "4",
                 "--seeds", "0", "1", "--out", str(out), "--no-progress", "--name", "planner"]) == 0
    text = capsys.readouterr().out
    assert "example/TreasureHunt-v0" in text and "success 1.000 ± 0.000" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["agent"] == "planner" and summary["envs"]["example/TreasureHunt-v0"]["episodes"] == 8
    assert summary["envs"]["example/TreasureHunt-v0"]["pass_at_k"] == {"2": 1.0}

    assert main(["leaderboard", "submit", str(out)]) == 0
    assert "accepted as submission #1" in capsys.readouterr().out
    assert main(["leaderboard", "submit", str(out)]) == 0
    assert "already on the leaderboard as submission #1" in capsys.readouterr().out

    assert main(["leaderboard", "show"]) == 0
    shown = capsys.readouterr().out
    assert "TreasureHunt-v0:test · 4 tasks × 2 seeds" in shown and "planner" in shown
    assert str(tmp_path) not in shown and "reproduced" in shown  # no machine paths; oracle re-run at submit
    assert main(["leaderboard", "show", "--by", "task-type"]) == 0
    assert "find_treasure" in capsys.readouterr().out


def test_eval_refuses_to_overwrite_and_bad_suite(runs, capsys):
    assert main(["eval", "--agent", "oracle", "--suite", "example", "--out", str(runs["oracle"])]) == 2
    assert "already holds results" in capsys.readouterr().err
    assert main(["eval", "--agent", "oracle", "--suite", "nosuch", "--out", "/tmp/x"]) == 2
    assert "unknown suite 'nosuch'" in capsys.readouterr().err


def test_submit_rejects_tampered_run_with_reason(fresh, tmp_path, capsys):
    run = fresh("oracle")
    (run / "metadata.yaml").write_text("agent: [unclosed\n")
    assert main(["leaderboard", "submit", str(run), "--db", str(tmp_path / "x.sqlite")]) == 1
    err = capsys.readouterr().err
    assert "rejected" in err and "metadata.yaml is not valid YAML" in err
    assert main(["leaderboard", "validate", str(run)]) == 1


def test_validate_ok(runs, capsys):
    assert main(["leaderboard", "validate", str(runs["oracle3"])]) == 0
    assert "valid: 3 episodes" in capsys.readouterr().out
