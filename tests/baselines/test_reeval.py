"""Re-evaluating a finished checkpoint (``python -m aem_gym.baselines.reeval``) measures what the trainer's
own final evaluation measured: the checkpoint as ``hf:<run>/final`` loads it, the same episodes and
settings."""

from __future__ import annotations

import json


def test_reeval_reproduces_the_final_eval_and_rewrites_a_stale_record(fast_config, capsys):
    from aem_gym.baselines.reeval import main, reevaluate
    from aem_gym.baselines.trainer import Trainer

    cfg = fast_config(**{"rl.steps": 1, "eval.final_episodes": 4, "checkpoint.every": 0})
    Trainer(cfg, progress=False).fit()
    run = cfg.output_dir()
    path = run / "final" / "eval.json"
    recorded = json.loads(path.read_text(encoding="utf-8"))
    now = reevaluate(run)
    # the saved tokenizer and weights reproduce every reply of the in-memory model (same tokens, same samples)
    assert [e["replies"] for e in now["episodes"]] == [e["replies"] for e in recorded["episodes"]]
    assert {k: now[k] for k in ("eval/success", "eval/return", "eval/turns")} == \
        {k: recorded[k] for k in ("eval/success", "eval/return", "eval/turns")}
    assert now["settings"] == recorded["settings"]
    path.write_text(json.dumps({**recorded, "eval/success": 0.99, "episodes": []}), encoding="utf-8")
    assert main([str(run), "--write"]) == 0
    fixed = json.loads(path.read_text(encoding="utf-8"))
    assert fixed["eval/success"] == recorded["eval/success"] and fixed["episodes"] == recorded["episodes"]
    assert fixed["step"] == recorded["step"] and fixed["time/run_wall_s"] == recorded["time/run_wall_s"]
    assert "0.9900 -> " in capsys.readouterr().out


def test_reeval_names_what_a_folder_lacks(tmp_path, capsys):
    from aem_gym.baselines.reeval import main

    assert main([str(tmp_path)]) == 2
    assert "needs config.yaml and final/eval.json" in capsys.readouterr().err
