"""The one evaluator: an agent on an env's held-out tasks, with fixed seeds and recorded settings.

``aem eval`` (``aem_gym.leaderboard.runner``, which writes the results directory) and the trainer's periodic
eval (``aem_gym.baselines.collect.evaluate``) both plan with ``plan_env`` and run with ``run_plan``, under
one ``EvalConfig``; so the same policy, tasks and settings give the same episodes through either::

    cfg = EvalConfig(seeds=[0, 1], episodes=10, max_turns=15)
    plan = plan_env("aem/Household-v0", cfg)            # split, task-set record, (instance, seed) list
    result = run_plan(make_policy("oracle"), plan, cfg)   # a RolloutResult, trajectories in plan order

Splits are named per env family (WebShop has ``test``, ALFWorld-style household tasks ``valid_unseen``), so
``split="auto"`` takes each env's first split among ``EVAL_SPLITS``; a named split must exist. Episodes are
``(instance, seed)`` pairs, seed-major: every instance with the first seed, then with the next, so S seeds
give each task S attempts (pass@k for k <= S, a standard error over seeds).

Each episode runs through the episode loop (``agents.rollout``) on the stack ``ActionParser`` +
``TurnLimit(max_turns)`` with raw rewards: an unparsable reply gets the parser's observation, never the
env's own "Nothing happens.", in training and in evaluation alike.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aem_gym.agents.policy import Policy, split_spec
from aem_gym.agents.prompts import DEFAULT_HISTORY_TOKENS
from aem_gym.agents.records import RolloutResult, Trajectory
from aem_gym.agents.rollout import SCHEDULES, RolloutEngine
from aem_gym.agents.tools import check_protocol
from aem_gym.agents.types import SamplingParams

SEED_MAX = 2**63 - 1  # seeds are stored as SQLite/NumPy int64
EVAL_SPLITS = ("test", "valid_unseen", "eval", "valid", "dev")


@dataclass
class EvalConfig:
    """Which episodes an evaluation runs and how (every field but ``progress`` is recorded with the run).

    ``episodes``: tasks per env, the split's default subset of N (``aem_envs.subsets``: round robin over
    task types, so every type is measured; None: the whole split).
    ``max_turns``: turn limit (None: the env's own). ``history``: at most this many past turns in a model's
    prompt (None: no cap); ``history_tokens``: the past turns shown fit this many estimated tokens (4
    characters each; oldest dropped first). Defaults for frontier models (docs/llm-agents.md): greedy
    decoding (``temperature=0.0``, reproducible), a 4,096-token reply budget, history by token budget.
    ``temperature``/``top_p``/``max_new_tokens``: None keeps the policy's default sampling; ``constrain``:
    ``"admissible"`` for constrained decoding (hf agents). ``max_prompt_tokens``: model agents see the
    last N prompt tokens (as the trainer's policy does). ``sampling_seed``: root of the per-request seeds.
    ``episode_timeout_s``: wall-clock budget per episode. ``workers``/``process``: env workers (threads,
    or processes for CPU-bound envs). ``max_concurrent``: episodes open at once; ``schedule``: see
    ``agents.rollout`` (``auto``: the policy's ``preferred_schedule``, i.e. ``independent`` for API
    backends, else ``lockstep``). Episodes are batched by when they are ready, so ``max_concurrent`` and
    ``schedule`` are part of what makes a model agent's run reproducible; workers are not.
    ``protocol``: ``text`` (``<action>`` tags) or ``tools`` (function calls; ``agents.tools``).
    ``extra_body``: fields merged into every request of an ``openai`` agent (``--extra-body``).
    """

    split: str = "auto"
    episodes: int | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    max_turns: int | None = None
    history: int | None = None
    history_tokens: int | None = DEFAULT_HISTORY_TOKENS
    temperature: float | None = 0.0
    top_p: float | None = None
    max_new_tokens: int | None = 4096
    constrain: str | None = None
    max_prompt_tokens: int | None = None
    sampling_seed: int = 0
    episode_timeout_s: float | None = 3600.0
    workers: int = 2
    process: bool = False
    max_concurrent: int | None = 16
    schedule: str = "auto"
    protocol: str = "text"
    extra_body: dict[str, Any] | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be a non-empty list of distinct integers, got {self.seeds}")
        for name, vals in (("seeds", self.seeds), ("sampling_seed", [self.sampling_seed])):
            bad = [s for s in vals if not _is_seed(s)]
            if bad:
                raise ValueError(f"{name} must be integers from 0 to 2**63-1 (int64), got {str(bad[0])[:40]}")
        if self.episodes is not None and self.episodes < 1:
            raise ValueError("episodes must be >= 1 (or None: the whole split)")
        if self.history is not None and self.history < 0:
            raise ValueError("history must be >= 0 (or None: as many turns as fit history_tokens)")
        if self.history_tokens is not None and self.history_tokens < 0:
            raise ValueError("history_tokens must be >= 0 (or None: no budget)")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        check_protocol(self.protocol)
        if self.schedule not in ("auto", *SCHEDULES):
            raise ValueError(f"schedule must be auto or one of {SCHEDULES}, got {self.schedule!r}")
        if self.extra_body is not None and not isinstance(self.extra_body, dict):
            raise ValueError("extra_body must be a JSON object, e.g. '{\"reasoning_effort\": \"low\"}'")

    def sampling(self) -> SamplingParams:
        """The policy's default sampling with this run's overrides."""
        over = {k: v for k, v in (("temperature", self.temperature), ("top_p", self.top_p),
                                  ("max_new_tokens", self.max_new_tokens), ("constrain", self.constrain))
                if v is not None}
        return SamplingParams(**over)

    def policy_kwargs(self, spec: str) -> dict[str, Any]:
        """Keyword arguments for ``make_policy(spec)``: the prompt cut goes to ``hf`` agents (a policy
        without a prompt has nothing to cut; an endpoint or vLLM cannot cut it, which is an error)."""
        kind = split_spec(spec)[0]
        out: dict[str, Any] = {}
        if self.extra_body is not None:
            if kind != "openai":
                raise ValueError(f"extra_body applies to openai agents (request fields), not to {kind} "
                                 "agents")
            out["extra_body"] = dict(self.extra_body)
        if self.max_prompt_tokens is None:
            return out
        if kind in ("vllm", "openai"):
            raise ValueError(f"max_prompt_tokens applies to hf agents; a {kind} agent sees its whole prompt")
        return {"max_prompt_tokens": self.max_prompt_tokens} if kind == "hf" else out

    def settings(self) -> dict[str, Any]:
        """What a run records about how it was evaluated (the resolved sampling included)."""
        out = {k: v for k, v in asdict(self).items() if k != "progress"}
        out["sampling"] = {k: v for k, v in asdict(self.sampling()).items() if k != "seed"}
        return out


def _is_seed(s: Any) -> bool:
    """An int64-sized, non-negative integer (NumPy integers too; not a bool)."""
    if isinstance(s, bool):
        return False
    try:
        v = operator.index(s)
    except TypeError:
        return False
    return 0 <= v <= SEED_MAX


@dataclass
class EnvPlan:
    """What one env's evaluation runs: its split, the task set it is, and the ``(instance, seed)`` list."""

    env_id: str
    split: str
    split_size: int
    record: dict[str, Any]  # task_set, version, manifest_sha256, backends
    instances: list[str]
    tasks: list[tuple[str, int]]


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
    """Task-set name, version, manifest hash and backends of an env, and its split's ids in stratified order
    (``aem_envs.subsets.split_order``: the default subset of N tasks is its first N)."""
    from aem_envs.subsets import split_order

    tasks = env.unwrapped.tasks
    manifest = getattr(tasks, "manifest", None)
    return {"task_set": tasks.name, "version": tasks.version,
            "manifest_sha256": manifest.sha256 if manifest is not None else _ids_sha256(tasks),
            "backends": dict(manifest.backends) if manifest is not None else {},
            "split_ids": split_order(env, split)}


def _ids_sha256(tasks: Any) -> str:
    """A task set without a manifest (e.g. upstream game files) is identified by its name, version and the
    ordered ids of every split, so that two runs on different task data never share a board."""
    import hashlib
    import json

    body = {"task_set": tasks.name, "version": tasks.version,
            "splits": {s: list(tasks.ids(s)) for s in sorted(tasks.splits())}}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def grid(ids: Sequence[str], seeds: Sequence[int]) -> list[tuple[str, int]]:
    """Every instance with every seed, seed-major."""
    return [(i, s) for s in seeds for i in ids]


def plan_env(env_id: str, cfg: EvalConfig, env_kwargs: Mapping[str, Any] | None = None,
             select: Callable[[list[str]], list[tuple[str, int]]] | None = None) -> EnvPlan:
    """Resolve the split and the episodes (default: the split's default subset of ``cfg.episodes`` instances,
    ``aem_envs.subsets``, × ``cfg.seeds``; ``select(ordered_ids)`` chooses other ``(instance, seed)`` pairs
    from the split's ids in that stratified order)."""
    import aem_envs

    env = aem_envs.make(env_id, **dict(env_kwargs or {}))
    try:
        split = eval_split(env, env_id, cfg.split)
        rec = env_record(env, split)
    finally:
        env.close()
    ordered = rec.pop("split_ids")
    if not ordered:
        raise ValueError(f"{env_id} has no tasks in split {split!r}")
    subset = ordered[: cfg.episodes] if cfg.episodes else ordered
    tasks = select(ordered) if select is not None else grid(subset, cfg.seeds)
    instances = list(dict.fromkeys(i for i, _ in tasks))
    return EnvPlan(env_id, split, len(ordered), rec, instances, tasks)


def run_plan(policy: Policy, plan: EnvPlan, cfg: EvalConfig, env_kwargs: Mapping[str, Any] | None = None,
             run_id: str = "eval", engine: RolloutEngine | None = None,
             on_done: Callable[[Trajectory], None] | None = None) -> RolloutResult:
    """Run ``plan`` through the episode loop; trajectories come back in ``plan.tasks`` order.
    ``on_done(trajectory)`` is called as each episode ends (``task_of`` names its task)."""
    own = engine is None
    engine = engine or eval_engine(cfg)
    try:
        return engine.run(plan.env_id, plan.tasks, policy, group_size=1, max_turns=cfg.max_turns,
                          env_kwargs=dict(env_kwargs or {}), sampling=cfg.sampling(), seed=cfg.sampling_seed,
                          run_id=run_id, reset_options={"split": plan.split}, on_done=on_done)
    finally:
        if own:
            engine.close()


def eval_engine(cfg: EvalConfig) -> RolloutEngine:
    """The episode loop configured by ``cfg`` (close it if ``cfg.process``)."""
    return RolloutEngine(workers=cfg.workers, episode_timeout_s=cfg.episode_timeout_s, history_k=cfg.history,
                         history_tokens=cfg.history_tokens, progress=cfg.progress,
                         max_concurrent=cfg.max_concurrent, schedule=cfg.schedule, process=cfg.process,
                         protocol=cfg.protocol)


def task_of(plan: EnvPlan, traj: Trajectory) -> tuple[str, int]:
    """The ``(instance, seed)`` of ``plan.tasks`` a trajectory of ``run_plan(plan)`` played (uids are
    ``{run_id}-g{index}``, agents.rollout)."""
    return plan.tasks[int(traj.group_uid.rsplit("-g", 1)[1])]
