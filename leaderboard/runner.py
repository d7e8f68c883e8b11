"""``aem eval``: evaluate an agent on every env of a suite and write a results directory.

The evaluation itself is ``aem_gym.agents.evaluate`` (the trainer's periodic eval runs the very same code
with the same ``EvalConfig``); this module resolves the suite, builds the policy from its spec, and
converts the loop's trajectories into the leaderboard's files (``schema``): one ``EpisodeRow`` and one
``TrajectoryRow`` per (env, instance, seed), ``summary.json`` and ``metadata.yaml``, which records each
env's split, task-set version and manifest hash, and every evaluation setting (``EvalConfig.settings``).
``episodes`` limits each env to its split's default subset of N tasks (``aem_envs.subsets``: round robin
over task types, a fixed, comparable subset; docs/subsets.md); ``None`` runs the whole split. Finished
episodes go to a journal as they end (``journal``), so ``resume=True`` continues a killed run. An episode
whose backend failed has ``status == "error"``: not an attempt (``metrics``), run again by a resume.
``prices`` (USD per million prompt and completion tokens) add the run's cost to the summary; the token
totals are always there.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from aem_envs.wrappers.recorder import to_jsonable
from aem_gym.agents.evaluate import EnvPlan, EvalConfig, eval_engine, plan_env, run_plan, task_of
from aem_gym.agents.policy import make_policy
from aem_gym.agents.records import Trajectory
from aem_gym.leaderboard import metrics
from aem_gym.leaderboard.journal import RUN_FILE, Journal
from aem_gym.leaderboard.schema import (
    EPISODES_FILE,
    METADATA_FILE,
    SCHEMA_VERSION,
    SUMMARY_FILE,
    TRAJ_DIR,
    EpisodeRow,
    TrajectoryRow,
    TurnRow,
    content_sha256,
    env_slug,
    episode_id,
    write_jsonl,
)
from aem_gym.leaderboard.suites import resolve_suite

PACKAGES = ("aem-gym", "gymnasium", "numpy", "torch", "transformers")
MAX_RAW_ACTION = 1000  # chars of an unparsable reply kept as its turn's action (the whole reply is raw_text)
# Info keys the loop adds that the rows already hold (the reply is raw_text, the parsed action is action).
_DROP_INFO = ("raw_action", "parsed_action")


def evaluate(agent: str, cfg: EvalConfig, out: Path | str, suite: str = "default",
             name: str | None = None, resume: bool = False,
             prices: tuple[float, float] | None = None) -> Path:
    """Evaluate ``agent`` (a spec such as ``oracle`` or ``hf:PATH``) on ``suite`` and write ``out``
    (``resume``: continue the run ``out`` holds; see the module docstring)."""
    suite_name, env_ids = resolve_suite(suite)
    out = Path(out)
    if not resume and ((out / SUMMARY_FILE).exists() or (out / EPISODES_FILE).exists()):
        raise ValueError(f"{out} already holds results; choose another --out or remove it (--resume "
                         "reruns the episodes that ended in a backend error)")
    if resume and (out / SUMMARY_FILE).exists() and not (out / RUN_FILE).exists():
        raise ValueError(f"{out} holds results without a journal ({RUN_FILE}): nothing to resume")
    plans = [plan(env_id, cfg) for env_id in env_ids]  # every split resolves before anything runs
    journal = Journal(out)
    settings = {k: v for k, v in cfg.settings().items() if k not in ("workers", "process")}  # not results
    identity = {"agent": agent, "suite": suite_name, "settings": to_jsonable(settings),
                "episodes": {p.env_id: [list(t) for t in p.tasks] for p in plans}}
    done = journal.open(identity, resume)
    policy = make_policy(agent, **cfg.policy_kwargs(agent))
    engine = eval_engine(cfg)
    try:
        for p in plans:
            todo = [t for t in p.tasks if episode_id(p.env_id, *t) not in done]
            if todo:
                _run(policy, dataclasses.replace(p, tasks=todo), cfg, engine, journal, done)
    finally:
        journal.close()
        engine.close()
        close = getattr(policy, "close", None)
        if callable(close):
            close()
    rows, trajs = [], {}
    for p in plans:
        for iid, seed in p.tasks:
            row, tr = done[episode_id(p.env_id, iid, seed)]
            rows.append(row)
            trajs.setdefault(p.env_id, []).append(tr)
    name = name or getattr(policy, "name", None) or agent
    config = {"policy": getattr(policy, "config", None) or type(policy).__name__, "history": cfg.history,
              "protocol": cfg.protocol, "schedule": _schedule(cfg, policy),
              "sampling": {k: v for k, v in cfg.settings()["sampling"].items() if v is not None}}
    _write(out, cfg, {"spec": agent, "name": name, "config": config}, suite_name, plans, rows, trajs, prices)
    return out


def _run(policy: Any, plan: EnvPlan, cfg: EvalConfig, engine: Any, journal: Journal,
         done: dict[str, tuple[EpisodeRow, TrajectoryRow]]) -> None:
    """Run ``plan``; each episode goes to the journal (and ``done``) the moment it ends."""
    def on_done(traj: Trajectory) -> None:
        row, tr = to_rows(plan, task_of(plan, traj), traj)
        journal.append(row, tr)
        done[row.episode_id] = (row, tr)

    run_plan(policy, plan, cfg, engine=engine, on_done=on_done)


def first_error(out: Path | str) -> str | None:
    """The error of the first episode that has one (what ``aem eval`` shows after a run with errors)."""
    for p in sorted((Path(out) / TRAJ_DIR).glob("*.jsonl")):
        for line in p.read_text(encoding="utf-8").splitlines():
            err = json.loads(line).get("error")
            if err:
                return str(err)
    return None


def _schedule(cfg: EvalConfig, policy: Any) -> str:
    return cfg.schedule if cfg.schedule != "auto" else getattr(policy, "preferred_schedule", "lockstep")
def plan(env_id: str, cfg: EvalConfig) -> EnvPlan:
    """The episodes ``aem eval`` runs for one env under ``cfg``; the validator plans with this very function,
    so a run's (task, seed) set is checked against what its recorded protocol gives."""
    return plan_env(env_id, cfg)


def to_rows(plan: EnvPlan, task: tuple[str, int], traj: Trajectory) -> tuple[EpisodeRow, TrajectoryRow]:
    """One episode of the loop in the results-file form."""
    iid, seed = task
    turns = [_turn_row(r) for r in traj.turns if not r.info.get("step_failed")]
    stopped = "timeout" if traj.timed_out else "error" if traj.error is not None else None
    if stopped and turns:  # the loop cut the episode after this turn: the env's own flags were both False
        turns[-1].terminated = turns[-1].truncated = False
    row = EpisodeRow(
        episode_id=episode_id(plan.env_id, iid, seed), env_id=plan.env_id, instance_id=iid,
        task_type=traj.task_type, split=plan.split, seed=seed, won=bool(traj.won),
        score=round(sum(t.reward for t in turns), 9), turns=len(turns),
        invalid_actions=sum(not t.is_action_valid for t in turns), terminated=bool(traj.terminated),
        truncated=bool(traj.truncated), prompt_tokens=sum(t.prompt_tokens for t in turns),
        completion_tokens=sum(t.completion_tokens for t in turns), wall_s=round(traj.wall_s, 4),
        trajectory_file=f"{TRAJ_DIR}/{env_slug(plan.env_id)}.jsonl", status=traj.status)
    return row, TrajectoryRow(row.episode_id, plan.env_id, iid, seed, traj.first_observation,
                              traj.final_observation, turns, stopped, traj.error)


def _turn_row(r: Any) -> TurnRow:
    info = {k: v for k, v in r.info.items() if k not in _DROP_INFO}
    parsed = r.info.get("parsed_action")
    action = str(parsed) if parsed is not None else " ".join(str(r.action_text).split())[:MAX_RAW_ACTION]
    ent = r.entropies
    return TurnRow(turn_idx=r.turn_idx, observation=r.observation, action=action, reward=float(r.reward),
                   terminated=bool(r.done and not r.truncated), truncated=bool(r.truncated),
                   is_action_valid=bool(r.is_action_valid), info=to_jsonable(info),
                   raw_text=r.action_text if r.action_text != action else None,
                   entropy=sum(ent) / len(ent) if ent else None,
                   logprob=float(sum(r.logprobs)) if r.logprobs else None,  # log p(reply), where given
                   prompt_tokens=int(r.prompt_tokens), completion_tokens=int(r.completion_tokens))


def _fill_alphas(trajs: list[TrajectoryRow]) -> None:
    """Per-turn AEM alpha (``aem_gym.agents.aem.aem_alpha``, the trainer's formula) within each task group:
    all turns of all seeds of one instance. Only agents that report entropies (model backends) get one."""
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


def cost_usd(tokens: dict[str, int], prices: tuple[float, float]) -> float:
    """The cost of ``{"prompt": n, "completion": m}`` tokens at ``prices`` USD per million tokens."""
    return round((tokens["prompt"] * prices[0] + tokens["completion"] * prices[1]) / 1e6, 6)


def _write(out: Path, cfg: EvalConfig, agent: dict[str, Any], suite_name: str, plans: list[EnvPlan],
           rows: list[EpisodeRow], trajs: dict[str, list[TrajectoryRow]],
           prices: tuple[float, float] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / EPISODES_FILE, [r.to_json() for r in rows])
    for env_id, ts in trajs.items():
        _fill_alphas(ts)
        write_jsonl(out / TRAJ_DIR / f"{env_slug(env_id)}.jsonl", [t.to_json() for t in ts])
    env_meta = {p.env_id: {**p.record, "split": p.split, "instances": p.instances, "split_size": p.split_size}
                for p in plans}
    backends = sorted({b for m in env_meta.values() for b in m.get("backends", {})})
    meta = {"schema_version": SCHEMA_VERSION, "agent": to_jsonable(agent), "suite": suite_name,
            "split": cfg.split, "seeds": list(cfg.seeds), "episodes_per_env": cfg.episodes,
            "max_turns": cfg.max_turns, "settings": to_jsonable(cfg.settings()), "envs": env_meta,
            "packages": package_versions(backends), "machine": machine_info(),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    text = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    (out / METADATA_FILE).write_text(text, encoding="utf-8")
    envs, overall = metrics.summarize(r.to_json() for r in rows)
    if prices is not None:
        for e in (*envs.values(), overall):
            e["cost_usd"] = cost_usd(e["tokens"], prices)
        overall["prices_usd_per_mtok"] = {"prompt": prices[0], "completion": prices[1]}
    summary = {"schema_version": SCHEMA_VERSION, "agent": agent["name"], "suite": suite_name,
               "split": cfg.split, "seeds": list(cfg.seeds), "envs": envs, "overall": overall,
               "content_sha256": content_sha256(out)}
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
