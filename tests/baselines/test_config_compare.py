"""Config parsing, the CLI wiring and the comparison table/plots (no training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aem_gym.baselines.compare import RunResult, bootstrap_ci, markdown_table, summarise, write_outputs
from aem_gym.baselines.config import list_recipes, load_config, split_algo


def test_split_algo_and_recipe():
    assert split_algo("grpo+aem") == ("grpo", ["aem"]) and split_algo("RLOO") == ("rloo", [])
    assert split_algo("dapo+aem-reverse+clip_cov") == ("dapo", ["aem-reverse", "clip_cov"])
    for bad in ("ppo", "grpo+foo", "", "grpo+aem+aem-shuffle", "grpo+empg+empg"):
        with pytest.raises(ValueError):
            split_algo(bad)
    assert "cpu-tiny-household" in list_recipes()
    cfg = load_config("cpu-tiny-household", overrides={"algo": "gspo+aem", "seed": 2})
    assert cfg.aem.enabled and cfg.loss_config().ratio_level == "sequence"
    assert cfg.loss_config().kl_coef == 0.01
    assert cfg.output_dir() == Path("runs/baselines/cpu-tiny-household-gspo+aem-seed2")
    with pytest.raises(ValueError, match="unknown config key"):
        load_config("cpu-tiny-household", overrides={"rollout.gropus": 3})
    with pytest.raises(FileNotFoundError):
        load_config("no-such-recipe")
    assert load_config(None, sets=["rl.steps=7", "aem.enabled=true"]).algo == "grpo+aem"
    assert load_config(None, sets=["rl.lr=1e-4"]).rl.lr == 1e-4  # a number, although YAML 1.1 says string


def test_cli_parses_train_and_compare():
    from aem_gym.cli.commands.train import resolve
    from aem_gym.cli.main import build_parser

    p = build_parser()
    a = p.parse_args(["train", "--recipe", "cpu-tiny-household", "--algo", "grpo", "--aem", "on",
                      "--seed", "3"])
    cfg = resolve(a)
    assert cfg.algo == "grpo+aem" and cfg.seed == 3
    a = p.parse_args(["train", "--algo", "grpo+aem", "--aem", "off"])
    assert resolve(a).algo == "grpo"  # the explicit switch wins
    c = p.parse_args(["compare", "--algos", "grpo,grpo+aem", "--seeds", "3"])
    assert c.seeds == 3 and c.algos == "grpo,grpo+aem"


def test_bootstrap_ci_brackets_mean():
    rng = np.random.default_rng(1)
    per_seed = [rng.random(50) < p for p in (0.3, 0.4, 0.5)]
    mean, lo, hi = bootstrap_ci(per_seed, n_boot=500)
    assert lo < mean < hi and 0.25 < mean < 0.55
    assert bootstrap_ci([np.ones(10)], n_boot=50) == (1.0, 1.0, 1.0)


def _result(algo, seed, wins, tmp_path):
    eps = [{"task_type": "a" if i % 2 else "b", "won": bool(w)} for i, w in enumerate(wins)]
    hist = [{"kind": "train", "step": s, "train/success": 0.1 * s,
             "policy_entropy": 1.0 - 0.1 * s} for s in (1, 2, 3)]
    hist += [{"kind": "eval", "step": 0, "eval/success": 0.0},
             {"kind": "final", "step": 3, "eval/success": 0.5}]
    return RunResult(algo, seed, tmp_path, {"episodes": eps}, hist)


def test_summary_table_and_plots(tmp_path):
    res = [_result("grpo", s, [1, 0, 0, 1], tmp_path) for s in (0, 1)]
    res += [_result("grpo+aem", 0, [1, 1, 1, 0], tmp_path)]
    rows = summarise(res)
    by = {(r["algo"], r["task_type"]): r for r in rows}
    assert by[("grpo", "all")]["success"] == 0.5 and by[("grpo", "all")]["episodes"] == 8
    assert by[("grpo+aem", "b")]["success"] == 1.0 and by[("grpo+aem", "a")]["success"] == 0.5
    md = markdown_table(rows)
    assert "| grpo+aem |" in md and "75.0" in md
    paths = write_outputs(res, tmp_path / "cmp")
    for k in ("summary", "table", "metrics", "success", "entropy"):
        assert paths[k].exists() and paths[k].stat().st_size > 0


def test_cli_algos_and_compare_arms(capsys):
    from aem_gym.cli.commands.train import resolve
    from aem_gym.cli.main import build_parser, main

    assert main(["algos"]) == 0
    out = capsys.readouterr().out
    for name in ("grpo", "gigpo", "aem-reverse", "aem-shuffle", "empg", "clip_cov", "kl_cov", "entropy"):
        assert name in out
    p = build_parser()
    arms = "grpo,grpo+aem,grpo+aem-reverse,grpo+aem-shuffle,grpo+empg,grpo+clip_cov,grpo+kl_cov"
    c = p.parse_args(["compare", "--algos", arms, "--seeds", "2"])
    c.aem, c.run_out = None, None
    cfgs = [resolve(c, algo=a, seed=0) for a in arms.split(",")]
    assert [x.algo for x in cfgs] == arms.split(",")  # distinct arms, distinct run directories
    assert len({x.output_dir() for x in cfgs}) == 7
    assert cfgs[2].aem.reverse and cfgs[3].aem.shuffle and cfgs[4].empg.enabled
    assert [x.loss_config().surrogate for x in cfgs[5:]] == ["clip_cov", "kl_cov"]
    a = p.parse_args(["train", "--algo", "grpo+aem-shuffle+clip_cov", "--aem", "off"])
    assert resolve(a).algo == "grpo+clip_cov"
    a = p.parse_args(["train", "--recipe", "gpu-qwen2.5-1.5b-household", "--aem", "off"])
    assert resolve(a).algo == "grpo"  # the recipe's algorithm, AEM switched off


def test_paired_differences_and_entropy_split(tmp_path):
    from aem_gym.baselines.paired import paired_bootstrap, paired_rows

    def run(algo, seed, wins, h0):
        eps = [{"instance_id": f"t{i}", "task_type": "a", "won": bool(w)} for i, w in enumerate(wins)]
        hist = [{"kind": "eval", "step": 0, "eval/success": 0.25}]
        hist += [{"kind": "train", "step": s,
                  "policy_entropy": h0 + (0.1 if s <= 3 else -0.1) * (algo != "grpo")}
                 for s in range(1, 10)]
        return RunResult(algo, seed, tmp_path, {"episodes": eps}, hist)

    res = []
    for s in range(4):
        res.append(run("grpo", s, [1, 0, 0, 0], 1.0 + s))
        res.append(run("grpo+aem", s, [1, 1, 0, 0] if s < 3 else [0, 0, 0, 0], 1.0 + s))
    rows = {r["algo"]: r for r in paired_rows(res, "grpo")}
    aem = rows["grpo+aem"]
    assert (aem["diff"] == pytest.approx((0.25 * 3 - 0.25) / 4)
            and aem["diff_lo"] <= aem["diff"] <= aem["diff_hi"])
    assert (aem["seeds_better"], aem["seeds_worse"]) == (3, 1)
    assert aem["dH_early"] == pytest.approx(0.1) and aem["dH_late"] == pytest.approx(-0.1)
    assert rows["grpo"]["learning"] == pytest.approx(0.0)
    # a paired bootstrap of identical arms is exactly zero
    same = [(np.array([1.0, 0.0]), np.array([1.0, 0.0]))] * 3
    assert paired_bootstrap(same, n_boot=50) == (0.0, 0.0, 0.0)
    paths = write_outputs(res, tmp_path / "cmp")
    assert paths["paired"].read_text().count("| grpo+aem |") == 1 and paths["entropy_diff"].exists()
