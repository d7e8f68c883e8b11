"""Reproduction: re-run a random sample of a run's episodes with the recorded agent and settings.

An agent this machine can run (``hf:``, ``vllm:``, ``scripted:``, ``oracle``, ``random``, and an
``openai:`` model at an endpoint the user names) is asked again for the sampled (task, seed) episodes, with
the recorded sampling seed and sampling settings. The per-request sampling seeds hash the episode's env,
task, *seed label* and turn (``agents.episode.request_seed``), so an episode played under seed 3 and
relabelled as seed 0 comes out differently here, even for an env that ignores the seed once the instance
id is given. The verdict:

* ``reproduced``: every sampled episode has the recorded actions and verdict;
* ``not reproduced``: one did not (the detail names the first difference);
* ``self-reported``: the agent cannot be run here (a model that is not on this machine, an endpoint nobody
  named, a human), so the run's figures are the submitter's word about its agent.

Note: a model agent batched differently (``max_concurrent``) may differ in the last bits of its logits; a
sampled ``hf:`` run is reproduced with the recorded batch settings, and a mismatch is reported as such.
"""

from __future__ import annotations

import datetime as _dt
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aem_gym.leaderboard.canonical import actions_of

LOCAL_KINDS = ("oracle", "random", "scripted", "hf", "vllm")
NO_MODEL_KINDS = ("oracle", "random", "scripted")
DEFAULT_SAMPLE = 8
_CFG_KEYS = (
    "history",
    "temperature",
    "top_p",
    "max_new_tokens",
    "constrain",
    "max_prompt_tokens",
    "sampling_seed",
    "max_concurrent",
    "schedule",
    "episode_timeout_s",
)


@dataclass
class Reproduction:
    status: str  # "reproduced" | "not reproduced" | "self-reported"
    detail: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        why = self.detail.get("first_difference") or self.detail.get("reason") or ""
        n = self.detail.get("sampled")
        return f"{self.status}{f' ({n} episodes re-run)' if n else ''}{': ' + why if why else ''}"


def runnable_spec(spec: str, openai_endpoint: str | None = None) -> tuple[str | None, str]:
    """``(spec to run, reason)``: the spec this machine can run for ``spec``, or ``None`` and why not."""
    from aem_gym.agents.policy import split_spec

    kind, arg = split_spec(spec)
    if kind == "openai":
        if not openai_endpoint:
            return None, "an openai: agent is re-run only at an endpoint the user names (--openai-endpoint)"
        return f"openai:{arg.partition('@')[0]}@{openai_endpoint}", ""
    if kind not in LOCAL_KINDS:
        return None, f"agent kind {kind!r} cannot be re-run here"
    if kind in ("hf", "vllm") and not Path(arg).expanduser().exists():
        return None, f"the {kind} model {Path(arg).name!r} is not on this machine"
    return spec, ""


def _config(metadata: dict[str, Any]) -> Any:
    from aem_gym.agents.evaluate import EvalConfig

    settings = metadata.get("settings") or {}
    kw = {k: settings[k] for k in _CFG_KEYS if k in settings}
    return EvalConfig(
        split=metadata["split"],
        episodes=metadata["episodes_per_env"],
        seeds=list(metadata["seeds"]),
        max_turns=metadata["max_turns"],
        progress=False,
        **kw,
    )


def reproduce(
    metadata: dict[str, Any],
    trajectories: dict[str, dict[str, Any]],
    sample: int | None = DEFAULT_SAMPLE,
    openai_endpoint: str | None = None,
    rng: random.Random | None = None,
) -> Reproduction:
    """Re-run ``sample`` random episodes (None: all) of a run and compare actions and verdicts."""
    from aem_gym.agents.evaluate import plan_env, run_plan
    from aem_gym.agents.policy import make_policy
    from aem_gym.leaderboard.runner import to_rows

    spec, reason = runnable_spec(metadata["agent"]["spec"], openai_endpoint)
    if spec is None:
        return Reproduction("self-reported", {"reason": reason})
    ids = sorted(trajectories)
    rng = rng or random.SystemRandom()  # a submitter cannot know which episodes will be re-run
    chosen = ids if sample is None or sample >= len(ids) else sorted(rng.sample(ids, sample))
    by_env: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for eid in chosen:
        t = trajectories[eid]
        by_env[t["env_id"]].append((t["instance_id"], t["seed"]))
    try:
        cfg = _config(metadata)
        policy = make_policy(spec, **cfg.policy_kwargs(spec))
    except Exception as e:  # noqa: BLE001 - a recorded setting we cannot honour: the run stays unverified
        return Reproduction(
            "self-reported", {"reason": f"cannot build the agent here ({type(e).__name__}: {e})"}
        )
    first, matched = None, 0
    try:
        for env_id, tasks in sorted(by_env.items()):
            plan = plan_env(env_id, cfg, select=lambda _ids, tasks=tasks: list(tasks))
            result = run_plan(policy, plan, cfg)
            for task, traj in zip(plan.tasks, result.trajectories, strict=True):
                _, tr = to_rows(plan, task, traj)
                if traj.error is not None or traj.timed_out:  # this machine failed, not the run
                    why = traj.error or "timed out"
                    return Reproduction(
                        "self-reported",
                        {
                            "reason": f"the re-run of {tr.episode_id} failed here ({str(why)[:200]})",
                            "infra": True,
                        },
                    )
                diff = _difference(trajectories[tr.episode_id], tr.to_json())
                matched += diff is None
                first = first or diff
    except Exception as e:  # noqa: BLE001 - the env or agent could not run here: no verdict either way
        return Reproduction(
            "self-reported",
            {"reason": f"the re-run failed here ({type(e).__name__}: {str(e)[:200]})", "infra": True},
        )
    finally:
        close = getattr(policy, "close", None)
        if callable(close):
            close()
    detail = {
        "sampled": len(chosen),
        "matched": matched,
        "agent": spec.split("@")[0],
        "when": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if first:
        detail["first_difference"] = first
    return Reproduction("reproduced" if first is None else "not reproduced", detail)


def _difference(rec: dict[str, Any], got: dict[str, Any]) -> str | None:
    a, b = actions_of(rec), actions_of(got)
    eid = rec["episode_id"]
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"{eid} turn {i}: the run records {x[:60]!r}, the agent now plays {y[:60]!r}"
    if len(a) != len(b):
        return f"{eid}: the run records {len(a)} turns, the agent now plays {len(b)}"
    return None  # same actions: replay already showed they give the recorded verdict
