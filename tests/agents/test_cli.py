from __future__ import annotations

import json

from aem_gym.agents.__main__ import main


def test_rollout_cli_writes_jsonl_and_prints_a_summary(tmp_path, capsys):
    assert main(["example/TreasureHunt-v0", "--agent", "oracle", "--tasks", "2", "--group-size", "2",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{"):])
    assert summary["episodes"] == 4 and summary["success_rate"] == 1.0
    rows = (tmp_path / "turns.jsonl").read_text().splitlines()
    trajs = [json.loads(x) for x in (tmp_path / "trajectories.jsonl").read_text().splitlines()]
    assert len(trajs) == 4 and all(t["won"] for t in trajs) and len(rows) == sum(t["length"] for t in trajs)


def test_rollout_cli_rejects_an_unknown_agent(capsys):
    assert main(["example/TreasureHunt-v0", "--agent", "nope"]) == 2
    assert "unknown agent kind" in capsys.readouterr().err
