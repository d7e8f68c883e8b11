"""Re-evaluate finished checkpoints (the released baseline agents by default) the way their trainer's
final eval did, through the one evaluator, and compare with the figures recorded in ``final/eval.json``.

``python -m aem_gym.baselines.reeval [--write] [--legacy-tokenizer] [DIR ...]``: each ``DIR`` is a run folder
holding ``config.yaml`` and ``final/``. The checkpoint is loaded as ``hf:<DIR>/final`` loads it (the model and
``agents.tiny.load_tokenizer``) and evaluated on the same held-out episodes (``collect.evaluate``: the
final eval's split, as many tasks as were recorded spread over it, the eval temperature, sampling seed
``seed``).
``--write`` replaces the recorded figures, episodes and settings in ``eval.json`` (keeping the training
step and times) when they differ. ``--legacy-tokenizer`` loads the tokenizer with plain ``AutoTokenizer``, as
``load_tokenizer`` did before it learned to recognise a bare ``tokenizers`` checkpoint: the control that shows
what the released figures were measured with.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RELEASED = Path(__file__).with_name("released")
FIGURES = ("eval/success", "eval/return", "eval/turns")


def _tokenizer(path: Path, legacy: bool):
    from aem_gym.agents.tiny import load_tokenizer

    if not legacy:
        return load_tokenizer(path)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def reevaluate(run: Path, legacy_tokenizer: bool = False) -> dict[str, Any]:
    """The final-eval record of ``run`` measured now (``eval/*`` keys, ``episodes``, ``settings``)."""
    import yaml
    from transformers import AutoModelForCausalLM

    from aem_gym.baselines.collect import evaluate
    from aem_gym.baselines.config import TrainConfig, _build

    data = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    cfg: TrainConfig = _build(TrainConfig, data, "")
    recorded = json.loads((run / "final" / "eval.json").read_text(encoding="utf-8"))
    split = cfg.eval.final_split or cfg.env.eval_split  # as the trainer's final eval asks ("auto" included)
    n = int(recorded.get("eval/episodes") or cfg.eval.final_episodes)
    model = AutoModelForCausalLM.from_pretrained(str(run / "final"))
    res = evaluate(model, _tokenizer(run / "final", legacy_tokenizer), cfg, split, n, cfg.eval.temperature)
    out = {"eval/success": res.success, "eval/return": res.mean_return, "eval/turns": res.mean_turns,
           "eval/split": res.split, "eval/episodes": len(res.episodes)}
    out.update({f"eval/success/{k}": v for k, v in res.per_type.items()})
    out["settings"], out["episodes"] = res.settings, res.episodes
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m aem_gym.baselines.reeval",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="*", type=Path, help="run folders (default: every released agent)")
    p.add_argument("--write", action="store_true", help="replace the recorded figures in final/eval.json")
    p.add_argument("--legacy-tokenizer", action="store_true",
                   help="load the tokenizer with plain AutoTokenizer")
    args = p.parse_args(argv)
    runs = args.runs or sorted(d.parent for d in RELEASED.glob("*/final") if (d / "eval.json").is_file())
    if not runs:
        print("no run folders with final/eval.json", file=sys.stderr)
        return 2
    for run in runs:
        if not (run / "final" / "eval.json").is_file() or not (run / "config.yaml").is_file():
            print(f"{run}: needs config.yaml and final/eval.json", file=sys.stderr)
            return 2
        path = run / "final" / "eval.json"
        recorded = json.loads(path.read_text(encoding="utf-8"))
        now = reevaluate(run, args.legacy_tokenizer)
        print(f"{run.name}: " + ", ".join(f"{k} {recorded.get(k, float('nan')):.4f} -> "
                                          f"{now[k]:.4f}" for k in FIGURES))
        if args.write and not args.legacy_tokenizer:
            stale = [k for k in recorded if k.startswith("eval/success/") and k not in now]
            merged = {k: v for k, v in recorded.items() if k not in stale}
            merged.update(now)
            path.write_text(json.dumps(merged, indent=1) + "\n", encoding="utf-8")
            print(f"  written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
