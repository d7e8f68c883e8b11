"""Checkpoints with exact resume: model + tokenizer (``save_pretrained``, so ``hf:DIR`` loads it as an
agent), optimiser state, every RNG the trainer uses, the step and the metric history.

Layout of a run directory::

    <run>/config.yaml            the resolved TrainConfig
    <run>/metrics.csv            one row per step (and eval rows)
    <run>/ckpt/step-000010/      model/tokenizer files + trainer_state.pt
    <run>/final/                 model/tokenizer after the last step (+ trainer_state.pt, eval.json)

Resuming from ``step-N`` and running step N+1 gives bit-identical parameters to an uninterrupted run
(tested), because the rollout seeds derive from (seed, step) and the remaining RNG state is restored.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

STATE_FILE = "trainer_state.pt"


@dataclass
class TrainerState:
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    sft_done: bool = False


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "generators": {k: g.get_state() for k, g in generators.items()}}


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    for k, g in generators.items():
        if k in state["generators"]:
            g.set_state(state["generators"][k])


def save_checkpoint(path: Path, model, tokenizer, optimizer: torch.optim.Optimizer | None,
                    state: TrainerState, generators: dict[str, torch.Generator],
                    extra: dict[str, Any] | None = None) -> Path:
    """Write to ``path.tmp`` then rename, so a crash never leaves a half-written checkpoint."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    torch.save({"step": state.step, "history": state.history, "sft_done": state.sft_done,
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "rng": rng_state(generators), "extra": extra or {}}, tmp / STATE_FILE)
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)
    return path


def load_checkpoint(path: Path, model, optimizer: torch.optim.Optimizer | None,
                    generators: dict[str, torch.Generator]) -> TrainerState:
    """Load weights into ``model`` (in place), the optimiser state and the RNGs; return the trainer state."""
    from safetensors.torch import load_file

    path = Path(path)
    weights = path / "model.safetensors"
    if not weights.exists():
        raise FileNotFoundError(f"{path} is not a checkpoint (no model.safetensors)")
    sd = load_file(str(weights))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # tied embeddings are stored once; anything else missing means a different architecture
    missing = [k for k in missing if "lm_head" not in k]
    if missing or unexpected:
        raise ValueError(f"checkpoint {path} does not match the model: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    if getattr(model.config, "tie_word_embeddings", False):
        model.tie_weights()
    st = torch.load(path / STATE_FILE, weights_only=False)
    if optimizer is not None and st.get("optimizer") is not None:
        optimizer.load_state_dict(st["optimizer"])
    set_rng_state(st["rng"], generators)
    return TrainerState(step=int(st["step"]), history=list(st["history"]), sft_done=bool(st.get("sft_done")))


def latest_checkpoint(run_dir: Path) -> Path | None:
    ckpts = sorted((Path(run_dir) / "ckpt").glob("step-*[0-9]"))
    return ckpts[-1] if ckpts else None


def prune(run_dir: Path, keep_last: int) -> None:
    ckpts = sorted((Path(run_dir) / "ckpt").glob("step-*[0-9]"))
    for p in ckpts[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
