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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aem_gym.agents.policy import Policy, split_spec
from aem_gym.agents.prompts import DEFAULT_HISTORY
from aem_gym.agents.records import RolloutResult
from aem_gym.agents.rollout import RolloutEngine
from aem_gym.agents.types import SamplingParams

EVAL_SPLITS = ("test", "valid_unseen", "eval", "valid", "dev")


@dataclass
class EvalConfig:
    """Which episodes an evaluation runs and how (every field but ``progress`` is recorded with the run).

    ``episodes``: tasks per env, the split's default subset of N (``aem_envs.subsets``: round robin over
    task types, so every type is measured; None: the whole split).
    ``max_turns``: turn limit (None: the env's own). ``history``: past turns in a model's prompt.
    ``temperature``/``top_p``/``max_new_tokens``: None keeps the policy's default sampling; ``constrain``:
    ``"admissible"`` for constrained decoding (hf agents). ``max_prompt_tokens``: model agents see the
    last N prompt tokens (as the trainer's policy does). ``sampling_seed``: root of the per-request seeds.
    ``episode_timeout_s``: wall-clock budget per episode. ``workers``/``process``: env workers (threads,
    or processes for CPU-bound envs). ``max_concurrent``: episodes open at once; ``schedule``: see
    ``agents.rollout``. Episodes are batched by when they are ready, so ``max_concurrent`` and
    ``schedule`` are part of what makes a model agent's run reproducible; workers are not.
    """

    split: str = "auto"
    episodes: int | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    max_turns: int | None = None
    history: int = DEFAULT_HISTORY
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    constrain: str | None = None
    max_prompt_tokens: int | None = None
    sampling_seed: int = 0
    episode_timeout_s: float | None = 3600.0
    workers: int = 2
    process: bool = False
    max_concurrent: int | None = 16
    schedule: str = "lockstep"
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be a non-empty list of distinct integers, got {self.seeds}")
        if self.episodes is not None and self.episodes < 1:
            raise ValueError("episodes must be >= 1 (or None: the whole split)")
        if self.history < 0:
            raise ValueError("history must be >= 0")

    def sampling(self) -> SamplingParams:
        """The policy's default sampling with this run's overrides."""
        over = {k: v for k, v in (("temperature", self.temperature), ("top_p", self.top_p),
                                  ("max_new_tokens", self.max_new_tokens), ("constrain", self.constrain))
                if v is not None}
        return SamplingParams(**over)

    def policy_kwargs(self, spec: str) -> dict[str, Any]:
        """Keyword arguments for ``make_policy(spec)``: the prompt cut goes to ``hf`` agents (a policy
        without a prompt has nothing to cut; an endpoint or vLLM cannot cut it, which is an error)."""
        if self.max_prompt_tokens is None:
            return {}
        kind = split_spec(spec)[0]
        if kind in ("vllm", "openai"):
            raise ValueError(f"max_prompt_tokens applies to hf agents; a {kind} agent sees its whole prompt")
        return {"max_prompt_tokens": self.max_prompt_tokens} if kind == "hf" else {}

    def settings(self) -> dict[str, Any]:
        """What a run records about how it was evaluated (the resolved sampling included)."""
        out = {k: v for k, v in asdict(self).items() if k != "progress"}
        out["sampling"] = {k: v for k, v in asdict(self.sampling()).items() if k != "seed"}
        return out


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
            "manifest_sha256": manifest.sha256 if manifest is not None else None,
            "backends": dict(manifest.backends) if manifest is not None else {},
            "split_ids": split_order(env, split)}


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
             run_id: str = "eval", engine: RolloutEngine | None = None) -> RolloutResult:
    """Run ``plan`` through the episode loop; trajectories come back in ``plan.tasks`` order."""
    own = engine is None
    engine = engine or eval_engine(cfg)
    try:
        return engine.run(plan.env_id, plan.tasks, policy, group_size=1, max_turns=cfg.max_turns,
                          env_kwargs=dict(env_kwargs or {}), sampling=cfg.sampling(), seed=cfg.sampling_seed,
                          run_id=run_id, reset_options={"split": plan.split})
    finally:
        if own:
            engine.close()


def eval_engine(cfg: EvalConfig) -> RolloutEngine:
    """The episode loop configured by ``cfg`` (close it if ``cfg.process``)."""
    return RolloutEngine(workers=cfg.workers, episode_timeout_s=cfg.episode_timeout_s, history_k=cfg.history,
                         progress=cfg.progress, max_concurrent=cfg.max_concurrent, schedule=cfg.schedule,
                         process=cfg.process)
