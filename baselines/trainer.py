"""The RL loop: rollout → old log-probs + entropies (one pass) → advantages → AEM → K epochs of
mini-batches → periodic eval → checkpoint.

    from aem_gym.baselines.config import load_config
    from aem_gym.baselines.trainer import Trainer
    Trainer(load_config("cpu-tiny-household", overrides={"algo": "grpo+aem", "seed": 0})).fit()

Reproducibility: env reset seeds and sampling seeds of step ``t`` derive from ``(seed, t)`` only, and every
other RNG (update shuffling, AEM shuffle ablation, SFT) is a ``torch.Generator`` saved in the checkpoint,
so the same seed gives the same run and a resumed run continues bit-identically.
"""

from __future__ import annotations

import copy
import csv
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from aem_gym.baselines import collect
from aem_gym.baselines.advantages import AdvantageInput, compute_advantages
from aem_gym.baselines.aem import AEMStats
from aem_gym.baselines.batch import collate
from aem_gym.baselines.checkpoint import (
    TrainerState,
    latest_checkpoint,
    load_checkpoint,
    prune,
    save_checkpoint,
)
from aem_gym.baselines.collective import LOCAL, Collective, Stat, mean
from aem_gym.baselines.config import TrainConfig
from aem_gym.baselines.forward import old_policy_pass
from aem_gym.baselines.transforms import TransformInput, apply_transforms
from aem_gym.baselines.update import ppo_update


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


class Trainer:
    """One run of ``cfg`` writing to ``cfg.output_dir()``. ``log`` receives one line per event."""

    def __init__(self, cfg: TrainConfig, progress: bool = True, log: Callable[[str], None] | None = None):
        self.cfg = cfg
        self.progress = progress
        self.log = log or (lambda s: None)
        self.out = cfg.output_dir()
        self.out.mkdir(parents=True, exist_ok=True)
        _seed_all(cfg.seed)
        torch.set_num_threads(max(1, torch.get_num_threads()))
        self.gens = {k: torch.Generator().manual_seed((sft_seed(cfg) if k == "sft" else cfg.seed) * 1000 + i)
                     for i, k in enumerate(("update", "aem", "sft"))}
        # the data-parallel hooks (baselines.distributed overrides them): collectives, this process's share
        # of the rollout groups, a rollout policy/engine other than the live model and local threads
        self.collective = self._collective()
        self.my_groups = self._my_groups()
        self.rollout_policy: Any = None
        self.engine: Any = None
        self.model, self.tokenizer = self._init_model()  # also sets train_model and weight_sync
        self.device = next(self.model.parameters()).device
        self.pad_id = (self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None
                       else self.tokenizer.eos_token_id)
        self.loss_cfg = cfg.loss_config()
        self.optimizer = self._make_optimizer()
        self.ref_model = None
        self.state = TrainerState()
        (self.out / "config.yaml").write_text(yaml.safe_dump(_plain(cfg.to_dict()), sort_keys=False),
                                              encoding="utf-8")

    # -- setup ----------------------------------------------------------------------------------------
    def _collective(self) -> Collective:
        return LOCAL

    def _my_groups(self) -> list[int]:
        return list(range(self.cfg.rollout.groups))

    def _init_model(self):
        """The policy: the module that rolls out and runs the old-policy pass (returned, with its tokenizer),
        the module the optimizer trains (``self.train_model``: the same one here) and how the first follows
        the second after an update (``self.weight_sync``)."""
        from aem_gym.agents.tiny import build_tiny_model, load_tiny_model
        from aem_gym.baselines.vllm_sync import NoSync

        init = self.cfg.model.init
        if init == "tiny":
            path = self.out / "init"
            if not (path / "config.json").exists():
                build_tiny_model(path, **self.cfg.model.tiny)
        else:
            path = Path(init)
        model, tok = load_tiny_model(path)
        model.to(getattr(torch, self.cfg.model.dtype))
        model.eval()  # no dropout during RL: the old-policy pass and the update see the same function
        self.train_model, self.weight_sync = model, NoSync()
        return model, tok

    def _make_optimizer(self) -> torch.optim.Optimizer:
        r = self.cfg.rl
        return torch.optim.AdamW(self.train_model.parameters(), lr=r.lr, weight_decay=r.weight_decay,
                                 betas=tuple(r.betas))

    def _freeze_reference(self) -> None:
        if self.loss_cfg.kl_coef:
            self.ref_model = copy.deepcopy(self.model).eval()
            for p in self.ref_model.parameters():
                p.requires_grad_(False)

    def resume(self) -> bool:
        """Load the newest checkpoint of this run, if any (the reference is the saved SFT model)."""
        ck = latest_checkpoint(self.out)
        if ck is None:
            return False
        sft_dir = self.out / "sft"
        if self.loss_cfg.kl_coef:
            from aem_gym.agents.tiny import load_tiny_model

            init = self.out / "init" if self.cfg.model.init == "tiny" else Path(self.cfg.model.init)
            ref_path = sft_dir if (sft_dir / "config.json").exists() else init
            self.ref_model = load_tiny_model(ref_path)[0].eval()
            for p in self.ref_model.parameters():
                p.requires_grad_(False)
        self.state = load_checkpoint(ck, self.model, self.optimizer, self.gens)
        self.log(f"resumed from {ck} at step {self.state.step}")
        return True

    # -- phases ---------------------------------------------------------------------------------------
    def warm_start(self) -> None:
        """SFT on noisy-oracle demonstrations (``sft.episodes > 0``), then a fresh optimizer and the frozen
        reference. With ``sft.cache`` the SFT weights are shared through ``sft_cache_dir()``: runs that differ
        only in the RL algorithm (``aem compare``'s arms for one seed) start from the same SFT model, which
        pairs the comparison and trains SFT once per seed instead of once per run."""
        from aem_gym.baselines.sft import collect_demos, sft_train

        if self.cfg.sft.episodes > 0 and not self.state.sft_done:
            t0 = time.perf_counter()
            cache = sft_cache_dir(self.cfg) if self.cfg.sft.cache else None
            if cache is not None and (cache / "config.json").exists():
                from aem_gym.agents.tiny import load_tiny_model

                self.model.load_state_dict(load_tiny_model(cache)[0].state_dict())
                rec = json.loads((cache / "sft.json").read_text(encoding="utf-8"))
                self.log(f"sft: reused {cache} (loss {rec['sft_loss']:.3f})")
            else:
                demos = collect_demos(self.cfg, self.tokenizer, self.cfg.sft.episodes,
                                      seed=sft_seed(self.cfg) + 7919, progress=self.progress)
                losses = sft_train(self.model, self.tokenizer, demos, self.cfg, self.gens["sft"],
                                   self.progress)
                demo_success = float(np.mean([d.won for d in demos])) if demos else 0.0
                rec = {"sft_loss": losses[-1], "demo_success": demo_success, "turns": len(demos),
                       "seconds": time.perf_counter() - t0}
                self.log(f"sft: {len(demos)} turns (demo success {demo_success:.2f}), "
                         f"loss {losses[0]:.3f} -> {losses[-1]:.3f} in {rec['seconds']:.0f}s")
                if cache is not None:
                    _save_atomically(cache, self.model, self.tokenizer, rec)
            self.model.eval()
            self.model.save_pretrained(self.out / "sft")
            self.tokenizer.save_pretrained(self.out / "sft")
            self.state.history.append({"kind": "sft", "step": 0, "sft_loss": rec["sft_loss"],
                                       "demo_success": rec["demo_success"]})
        self.state.sft_done = True
        self.optimizer = self._make_optimizer()  # RL starts with fresh moments
        self._freeze_reference()

    def fit(self, resume: bool = True) -> dict[str, Any]:
        """SFT (if configured) → eval → RL steps with periodic eval/checkpoints → final save + eval. The
        final record carries this call's wall time and the process's CPU time (``time/run_*``): on a shared
        machine the CPU seconds are what the run costs, whatever else was running."""
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if not (resume and self.resume()):
            self.warm_start()
            self._record(self._initial_eval())
        steps = self.cfg.rl.steps
        bar = _bar(self.progress, total=steps, initial=self.state.step, desc=self.cfg.run_name())
        while self.state.step < steps:
            m = self.train_step(self.state.step)
            self.state.step += 1
            self._record(m)
            bar.update(1)
            bar.set_postfix(success=f"{m['train/success']:.2f}", H=f"{m['policy_entropy']:.2f}")
            if self.cfg.eval.every and self.state.step % self.cfg.eval.every == 0 and self.state.step < steps:
                self._record(self.evaluate(self.state.step))
            if self.cfg.checkpoint.every and self.state.step % self.cfg.checkpoint.every == 0:
                self.save(self.out / "ckpt" / f"step-{self.state.step:06d}")
                prune(self.out, self.cfg.checkpoint.keep_last)
        bar.close()
        final = self.evaluate(self.state.step, final=True)
        final.update({"time/run_wall_s": time.perf_counter() - wall0,
                      "time/run_cpu_s": time.process_time() - cpu0})
        self._record(final)
        self.save(self.out / "final")
        (self.out / "final" / "eval.json").write_text(json.dumps(final, indent=1) + "\n", encoding="utf-8")
        return final

    def save(self, path: Path) -> Path:
        return save_checkpoint(path, self.model, self.tokenizer, self.optimizer, self.state, self.gens,
                               extra={"config": _plain(self.cfg.to_dict())})

    # -- one step -------------------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, Any]:
        """Rollout → old-policy pass (log-probs + entropies) → advantages → advantage transforms (AEM, EMPG:
        ``baselines/transforms.py``) → PPO update → weight sync.

        The same code runs on one process and on every rank of a data-parallel job: the rank's share of the
        groups (``self.my_groups``), its rollout policy and engine, the trained module (``self.train_model``,
        DDP/FSDP there), the collectives (``self.collective``) and the weight sync are the hooks."""
        cfg = self.cfg
        t0 = time.perf_counter()
        rolled = collect.training_groups(self.model, self.tokenizer, cfg, step, groups=self.my_groups,
                                         policy=self.rollout_policy, engine=self.engine)
        t_roll = time.perf_counter()
        batch = collate(rolled.records, self.pad_id, max_response=cfg.model.max_new_tokens + 1)
        batch = batch.to(self.device)
        old = old_policy_pass(self.model, batch, cfg.update.micro_batch_size, cfg.rollout.temperature,
                              with_entropy=True)
        batch.old_logp, batch.entropy = old.logp, old.entropy
        if self.ref_model is not None:
            batch.ref_logp = old_policy_pass(self.ref_model, batch, cfg.update.micro_batch_size,
                                             cfg.rollout.temperature, with_entropy=False).logp
        t_fwd = time.perf_counter()
        inp = AdvantageInput(batch.group, batch.traj, batch.turn, batch.reward, batch.env_reward,
                             batch.step_group)
        adv = compute_advantages(cfg.estimator_name, inp, cfg.estimator)  # whole groups: exact statistics
        t_adv = time.perf_counter()
        tr = apply_transforms(TransformInput(adv, batch.entropy, batch.response_mask, batch.group, batch.traj,
                                             batch.turn, self.gens["aem"]), cfg, self.collective)
        t_tr = time.perf_counter()
        batch.advantages, batch.alpha = tr.advantages, tr.coef
        up = ppo_update(self.train_model, self.optimizer, batch, self.loss_cfg, cfg.update,
                        self.gens["update"], self.collective)
        self.weight_sync.push()
        t_end = time.perf_counter()
        times = {"rollout": t_roll - t0, "old_pass": t_fwd - t_roll, "adv": t_adv - t_fwd,
                 "transform": t_tr - t_adv, "update": t_end - t_tr, "step": t_end - t0}
        stats = step_stats(rolled, batch, tr.stats, times)
        if self.rollout_policy is not None:  # vLLM samples: how far its log-probs are from the trainer's
            from aem_gym.baselines.vllm_sync import logprob_gap

            gap = logprob_gap(rolled.records, batch.old_logp, batch.response_mask)
            stats["rollout/logprob_gap"] = mean(gap, float(batch.response_mask.sum()))
        return {"kind": "train", "step": step + 1, **self.collective.reduce(stats), **up,
                "world_size": self.collective.world_size}

    def _initial_eval(self) -> dict[str, Any]:
        """The step-0 evaluation of the SFT model. With a cached SFT model it is cached beside it, per run
        seed and evaluation settings: the arms of one seed evaluate the same model on the same episodes with
        the same sampling seed, so they share one result instead of repeating it."""
        cache = sft_cache_dir(self.cfg) if self.cfg.sft.cache and self.cfg.sft.episodes > 0 else None
        if cache is None or not (cache / "config.json").exists():
            return self.evaluate(0)
        import hashlib

        d = self.cfg.to_dict()
        key = json.dumps(_plain({"eval": d["eval"], "env": d["env"], "model": d["model"],
                                 "seed": self.cfg.seed}),
                         sort_keys=True, default=str)
        path = cache / f"eval0-seed{self.cfg.seed}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"
        if path.exists():
            out = json.loads(path.read_text(encoding="utf-8"))
            self.log(f"[{self.cfg.run_name()}] step 0 eval success {out['eval/success']:.3f} (reused "
                     f"{path.name})")
            return out
        out = self.evaluate(0)
        tmp = path.with_name(f"{path.name}.tmp{id(self)}")
        tmp.write_text(json.dumps(out) + "\n", encoding="utf-8")
        tmp.replace(path)
        return out

    def evaluate(self, step: int, final: bool = False) -> dict[str, Any]:
        e = self.cfg.eval
        n = e.final_episodes if final else e.episodes
        split = (e.final_split or self.cfg.env.eval_split) if final else self.cfg.env.eval_split
        res = collect.evaluate(self.model, self.tokenizer, self.cfg, split, n, e.temperature,
                               progress=self.progress)
        out = {"kind": "final" if final else "eval", "step": step, "eval/success": res.success,
               "eval/return": res.mean_return, "eval/turns": res.mean_turns, "eval/split": res.split,
               "eval/episodes": len(res.episodes)}
        out.update({f"eval/success/{k}": v for k, v in res.per_type.items()})
        if final:  # how it was evaluated: `make run` evaluates the checkpoint with the same settings
            out["episodes"], out["settings"] = res.episodes, res.settings
        self.log(f"[{self.cfg.run_name()}] step {step} {'final ' if final else ''}eval success "
                 f"{res.success:.3f}")
        return out

    # -- logging --------------------------------------------------------------------------------------
    def _record(self, m: dict[str, Any]) -> None:
        flat = {k: v for k, v in m.items() if not isinstance(v, list | dict)}
        self.state.history.append(flat)
        write_metrics_csv(self.out / "metrics.csv", self.state.history)


def sft_cache_dir(cfg: TrainConfig) -> Path:
    """Where the SFT warm start of ``cfg`` is cached: next to the run directories, keyed by everything the
    SFT model depends on (env, model and SFT settings, seed, the tiny model's corpus, the source of the
    prompt builders and of SFT itself, so editing either invalidates the cache, and the torch and
    transformers versions, whose kernels and defaults shape the weights), not by the RL algorithm."""
    import hashlib
    from importlib import metadata

    from aem_gym.agents import prompts
    from aem_gym.agents.tiny import CORPUS
    from aem_gym.baselines import sft

    d = cfg.to_dict()
    seed = sft_seed(cfg)
    key = {"env": d["env"], "model": d["model"],
           "sft": {k: v for k, v in d["sft"].items() if k not in ("cache", "seed")}, "seed": seed,
           "libs": {lib: metadata.version(lib) for lib in ("torch", "transformers")}}
    h = hashlib.sha256(json.dumps(_plain(key), sort_keys=True, default=str).encode())
    for f in (Path(prompts.__file__), Path(sft.__file__), CORPUS if cfg.model.init == "tiny" else None):
        if f is not None:
            h.update(f.read_bytes())
    return cfg.output_dir().parent / ".sft-cache" / f"{cfg.recipe}-seed{seed}-{h.hexdigest()[:12]}"


def sft_seed(cfg: TrainConfig) -> int:
    """The seed of the SFT warm start: ``sft.seed`` if set, else the run's seed."""
    return cfg.seed if cfg.sft.seed is None else int(cfg.sft.seed)


def _save_atomically(path: Path, model, tokenizer, rec: dict[str, Any]) -> None:
    """Write into a private directory, then rename: two arms that train the same SFT model at the same time
    (parallel compare runs) never leave a half-written cache; the first rename wins, the same weights."""
    import os
    import shutil

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "sft.json").write_text(json.dumps(rec) + "\n", encoding="utf-8")
    try:
        tmp.rename(path)
    except OSError:  # another run got there first
        shutil.rmtree(tmp, ignore_errors=True)


def step_stats(rolled: collect.Collected, batch, transform_stats: dict[str, Stat],
               times: dict[str, float]) -> dict[str, Stat]:
    """The step's metrics and how each combines over data-parallel ranks (``collective.Stat``): W ranks
    report what one process reports on the union of their rows (times: the slowest rank). AEM's columns
    are there in every run (α = 1 without AEM), so that the arms of a comparison share them."""
    m = batch.response_mask
    tokens, rows = float(m.sum()), float(len(batch))
    adv = batch.advantages
    n_groups = float(batch.group.unique().numel())
    return {
        "train/success": mean(rolled.success, rolled.episodes),
        "train/return": mean(rolled.mean_return, rolled.episodes),
        "train/turns": mean(rolled.mean_turns, rolled.episodes),
        "train/invalid_frac": mean(float((~batch.valid).float().mean()), rows),
        "train/groups_kept": Stat(rolled.groups_kept, op="sum"),
        "train/gen_batches": Stat(rolled.gen_batches, op="max"),
        "rows": Stat(rows, op="sum"),
        "policy_entropy": mean(float((batch.entropy * m).sum() / m.sum().clamp_min(1)), tokens),
        "adv/zero_groups_frac": mean(_zero_group_frac(adv, batch.group), n_groups),
        "adv/mean_abs": mean(float(adv.abs().mean()), adv.numel()),
        **AEMStats().to_stats(), **transform_stats,
        "train/head_start": Stat(rolled.head_start, op="max"),
        **{f"time/{k}_s": Stat(v, op="max") for k, v in times.items()},
    }


def _zero_group_frac(adv: torch.Tensor, group: torch.Tensor) -> float:
    """Fraction of groups whose advantages are all zero (no learning signal)."""
    g = group.unique()
    per_row = adv.abs().float().reshape(len(group), -1).sum(-1)  # per-turn or per-token advantages
    nz = torch.zeros(int(group.max()) + 1, device=adv.device).index_add_(0, group, per_row)
    return float((nz[g] < 1e-8).float().mean())


def write_metrics_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix(self, **kw: Any) -> None: ...
    def close(self) -> None: ...


def _bar(progress: bool, **kw: Any):
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(**kw)
