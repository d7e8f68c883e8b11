"""``aem eval``: run an agent with fixed seeds over a split of every env in a suite; write a results dir.

Every (env, instance, seed) is one episode: ``reset(seed=seed, options={"instance_id": ...})`` on a fresh
env stack built by ``build_env`` (the same function replays submissions, so both see the same env). With
S seeds each task gets S attempts, which gives pass@k for k <= S and a standard error over seeds.
``episodes`` limits each env to the first N tasks of the split in manifest order (a fixed, comparable
subset); ``None`` runs the whole split.

Splits are named per env family (WebShop has ``test``, ALFWorld-style household tasks ``valid_unseen``), so
``split="auto"`` (the default) takes each env's first split among ``EVAL_SPLITS``; a named split must exist
in every env of the suite. The split each env ran on is recorded in ``metadata.yaml``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from aem_envs.wrappers.recorder import to_jsonable
from aem_gym.leaderboard import metrics
from aem_gym.leaderboard.actors import ActOut, make_actor
from aem_gym.leaderboard.actors import PolicyActor as Actor
from aem_gym.leaderboard.schema import (
    EPISODES_FILE,
    METADATA_FILE,
    SCHEMA_VERSION,
    SUMMARY_FILE,
    TRAJ_DIR,
    EpisodeRow,
    Trajectory,
    TurnRow,
    content_sha256,
    env_slug,
    episode_id,
    write_jsonl,
)
from aem_gym.leaderboard.suites import resolve_suite

EVAL_SPLITS = ("test", "valid_unseen", "eval", "valid", "dev")
PACKAGES = ("aem-gym", "gymnasium", "numpy", "torch", "transformers")
# Info keys dropped from stored turns: the admissible list is long and is recomputed on replay anyway.
_DROP_INFO = ("admissible_actions",)


@dataclass
class EvalConfig:
    agent: str
    suite: str = "default"
    split: str = "auto"
    episodes: int | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    out: Path = Path("runs/eval")
    max_turns: int | None = None
    progress: bool = True
    name: str | None = None  # display name (default: the policy's own name)
    temperature: float | None = None  # None: the policy's default sampling
    max_new_tokens: int | None = None  # None: the policy's default
    history: int = 3  # past turns shown in the prompt
    constrain: str | None = None  # "admissible": constrained decoding for hf agents (agents.constrained)
    batch: int = 16  # episodes run in lockstep (one policy call per turn for all of them)


def build_env(env_id: str, max_turns: int | None = None):
    """The env stack an evaluation (and its replay) runs: the registered env, plus ``TurnLimit``."""
    import aem_envs
    from aem_envs.wrappers import TurnLimit

    env = aem_envs.make(env_id)
    return TurnLimit(env, max_turns) if max_turns else env


def eval_split(env: Any, env_id: str, split: str) -> str:
    """The split an env is evaluated on: ``split`` itself, or for ``auto`` its first of ``EVAL_SPLITS``."""
    have = list(env.unwrapped.tasks.splits())
    if split != "auto":
        if split not in have:
            raise ValueError(f"{env_id} has no split {split!r} (it has {have}); use --split auto for each "
                             "env's evaluation split")
        return split
    for s in EVAL_SPLITS:
        if s in have:
            return s
    raise ValueError(f"{env_id} has none of the evaluation splits {list(EVAL_SPLITS)} (it has {have})")


def env_record(env: Any, split: str) -> dict[str, Any]:
    """Task-set name, version, manifest hash and backends of an env, and its split's ordered ids."""
    tasks = env.unwrapped.tasks
    manifest = getattr(tasks, "manifest", None)
    return {"task_set": tasks.name, "version": tasks.version,
            "manifest_sha256": manifest.sha256 if manifest is not None else None,
            "backends": dict(manifest.backends) if manifest is not None else {},
            "split_ids": list(tasks.ids(split))}


def _clean_info(info: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in info.items() if k not in _DROP_INFO}
    if "admissible_actions" in info and info["admissible_actions"] is not None:
        out["n_admissible"] = len(info["admissible_actions"])
    return to_jsonable(out)


class _Episode:
    """One running episode in a batch slot."""

    def __init__(self, env: Any, env_id: str, instance_id: str, seed: int, split: str):
        self.env, self.env_id, self.instance_id, self.seed, self.split = env, env_id, instance_id, seed, split
        self.t0 = time.perf_counter()
        self.obs, self.info = env.reset(seed=seed, options={"instance_id": instance_id, "split": split})
        self.traj = Trajectory(episode_id(env_id, instance_id, seed), env_id, instance_id, seed, self.obs, self.obs)
        self.task_type = str(self.info.get("task_type", ""))
        self.score, self.invalid, self.terminated, self.truncated = 0.0, 0, False, False

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    def step(self, out: ActOut) -> None:
        next_obs, reward, terminated, truncated, info = self.env.step(out.action)
        valid = bool(info.get("is_action_valid", True))
        self.traj.turns.append(TurnRow(
            turn_idx=len(self.traj.turns), observation=self.obs, action=out.action, reward=float(reward),
            terminated=bool(terminated), truncated=bool(truncated), is_action_valid=valid,
            info=_clean_info(info), raw_text=out.raw_text if out.raw_text != out.action else None,
            entropy=out.entropy, logprob=out.logprob, prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens))
        self.score += float(reward)
        self.invalid += not valid
        self.obs, self.info, self.terminated, self.truncated = next_obs, info, bool(terminated), bool(truncated)

    def finish(self) -> tuple[EpisodeRow, Trajectory]:
        t = self.traj
        t.final_observation = self.obs
        row = EpisodeRow(
            episode_id=t.episode_id, env_id=self.env_id, instance_id=self.instance_id, task_type=self.task_type,
            split=self.split, seed=self.seed, won=bool(self.info.get("won", False)), score=round(self.score, 9),
            turns=len(t.turns), invalid_actions=self.invalid, terminated=self.terminated, truncated=self.truncated,
            prompt_tokens=sum(x.prompt_tokens for x in t.turns),
            completion_tokens=sum(x.completion_tokens for x in t.turns),
            wall_s=round(time.perf_counter() - self.t0, 4), trajectory_file=f"{TRAJ_DIR}/{env_slug(self.env_id)}.jsonl")
        return row, t


def run_batch(envs: list[Any], actor: Actor, env_id: str, jobs: list[tuple[str, int]],
              split: str) -> list[tuple[EpisodeRow, Trajectory]]:
    """Run ``jobs`` = [(instance_id, seed)] in lockstep, one env of ``envs`` per job (``len(jobs) <= len(envs)``):
    each turn, one ``actor.act_many`` call for all episodes still running. Results in ``jobs`` order."""
    eps = []
    for slot, ((iid, seed), env) in enumerate(zip(jobs, envs, strict=False)):
        actor.begin(slot, env_id, iid, seed)
        eps.append(_Episode(env, env_id, iid, seed, split))
    while True:
        active = [(i, e) for i, e in enumerate(eps) if not e.done]
        if not active:
            break
        outs = actor.act_many([(i, e.env, e.obs, e.info) for i, e in active])
        for (_, e), out in zip(active, outs, strict=True):
            e.step(out)
    return [e.finish() for e in eps]


def _fill_alphas(trajs: list[Trajectory]) -> None:
    """Per-turn AEM alpha (``aem_gym.agents.aem.aem_alpha``, the trainer's formula) within each task group: all turns of
    all seeds of one instance. Only agents that report entropies (model backends) get one."""
    turns = [t for tr in trajs for t in tr.turns]
    if not any(t.entropy is not None for t in turns):
        return
    import torch

    from aem_gym.agents.aem import aem_alpha

    gid: dict[str, int] = {}
    groups = [gid.setdefault(tr.instance_id, len(gid)) for tr in trajs for _ in tr.turns]
    h = torch.tensor([float("nan") if t.entropy is None else t.entropy for t in turns], dtype=torch.float64)
    alpha = aem_alpha(h, torch.tensor(groups), include=torch.isfinite(h))
    for t, a in zip(turns, alpha.tolist(), strict=True):
        t.aem_alpha = None if t.entropy is None else round(a, 6)


def package_versions(extra: list[str] | tuple[str, ...] = ()) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in (*PACKAGES, *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine_info() -> dict[str, Any]:
    return {"system": platform.system(), "release": platform.release(), "arch": platform.machine(),
            "python": platform.python_version(), "cpus": os.cpu_count()}


def evaluate(cfg: EvalConfig) -> Path:
    """Run the evaluation and write the results directory; returns its path."""
    from tqdm import tqdm

    suite_name, env_ids = resolve_suite(cfg.suite)
    if not cfg.seeds or len(set(cfg.seeds)) != len(cfg.seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct integers, got {cfg.seeds}")
    out = Path(cfg.out)
    if (out / SUMMARY_FILE).exists() or (out / EPISODES_FILE).exists():
        raise ValueError(f"{out} already holds results; choose another --out or remove it")
    sampling = {k: v for k, v in (("temperature", cfg.temperature), ("max_new_tokens", cfg.max_new_tokens),
                                  ("constrain", cfg.constrain)) if v is not None}
    actor = make_actor(cfg.agent, history=cfg.history, sampling=sampling)
    if cfg.name:
        actor.name = cfg.name
    plan: list[tuple[str, list[Any], list[str]]] = []
    env_meta: dict[str, Any] = {}
    for env_id in env_ids:
        env = build_env(env_id, cfg.max_turns)
        pool = [env]
        split = eval_split(env, env_id, cfg.split)
        rec = env_record(env, split)
        ids = rec.pop("split_ids")
        if not ids:
            raise ValueError(f"{env_id} has no tasks in split {split!r}")
        chosen = ids[: cfg.episodes] if cfg.episodes else ids
        env_meta[env_id] = {**rec, "split": split, "instances": chosen, "split_size": len(ids)}
        n_jobs = len(chosen) * len(cfg.seeds)
        pool += [build_env(env_id, cfg.max_turns) for _ in range(min(cfg.batch, n_jobs) - 1)]
        plan.append((env_id, pool, chosen))
    rows: list[EpisodeRow] = []
    trajs: dict[str, list[Trajectory]] = {}
    total = sum(len(ids) for _, _, ids in plan) * len(cfg.seeds)
    bar = tqdm(total=total, desc=f"eval {actor.name}", unit="ep", disable=not cfg.progress)
    try:
        for env_id, pool, ids in plan:
            bar.set_postfix_str(env_id)
            jobs = [(iid, seed) for seed in cfg.seeds for iid in ids]
            for k in range(0, len(jobs), len(pool)):
                for row, traj in run_batch(pool, actor, env_id, jobs[k:k + len(pool)], env_meta[env_id]["split"]):
                    rows.append(row)
                    trajs.setdefault(env_id, []).append(traj)
                    bar.update()
    finally:
        bar.close()
        actor.close()
        for _, pool, _ in plan:
            for env in pool:
                env.close()
    _write(out, cfg, actor, suite_name, env_meta, rows, trajs)
    return out


def _write(out: Path, cfg: EvalConfig, actor: Actor, suite_name: str, env_meta: dict[str, Any],
           rows: list[EpisodeRow], trajs: dict[str, list[Trajectory]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / EPISODES_FILE, [r.to_json() for r in rows])
    for env_id, ts in trajs.items():
        _fill_alphas(ts)
        write_jsonl(out / TRAJ_DIR / f"{env_slug(env_id)}.jsonl", [t.to_json() for t in ts])
    backends = sorted({b for m in env_meta.values() for b in m.get("backends", {})})
    meta = {"schema_version": SCHEMA_VERSION,
            "agent": {"spec": cfg.agent, "name": actor.name, "config": to_jsonable(actor.config)},
            "suite": suite_name, "split": cfg.split, "seeds": list(cfg.seeds), "episodes_per_env": cfg.episodes,
            "max_turns": cfg.max_turns, "envs": env_meta, "packages": package_versions(backends),
            "machine": machine_info(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    (out / METADATA_FILE).write_text(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True), encoding="utf-8")
    envs, overall = metrics.summarize(r.to_json() for r in rows)
    summary = {"schema_version": SCHEMA_VERSION, "agent": actor.name, "suite": suite_name, "split": cfg.split,
               "seeds": list(cfg.seeds), "envs": envs, "overall": overall,
               "content_sha256": content_sha256(out)}
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
