"""``aem leaderboard submit DIR``: validate (with replay), reproduce where cheap, then store.

What is stored is what the leaderboard verified: the episode rows and every figure are recomputed from
the replay (``validate``); tokens, wall time, entropies and raw text are kept as self-reported. An agent
without a model (oracle, random, scripted) is re-run on every episode at once (``reproduce``): a run it
does not reproduce (e.g. best-of-5 seeds relabelled as one seed) is rejected. Other agents are
stored as self-reported until ``aem leaderboard verify`` re-runs them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aem_gym.leaderboard import canonical, metrics
from aem_gym.leaderboard.reproduce import (
    NO_MODEL_KINDS,
    Reproduction,
    reproduce,
    runnable_spec,
)
from aem_gym.leaderboard.store import RunRecord, Store, SubmitResult
from aem_gym.leaderboard.validate import Submission, ValidationReport, validate

ORACLE_SHARE = 1.0  # every action the oracle's: refused for an agent that is not the oracle
ORACLE_MARK = 0.9  # most actions the oracle's: marked
ORACLE_MIN_TURNS = 8  # below this many turns a coincidence is too likely to say anything


class SubmissionRejected(ValueError):
    """The run failed validation; ``str(e)`` lists what is wrong."""

    def __init__(self, report: ValidationReport | str):
        super().__init__(str(report) if isinstance(report, ValidationReport) else f"rejected:\n  - {report}")
        self.report = report


@dataclass
class Accepted:
    result: SubmitResult
    report: ValidationReport
    reproduction: Reproduction


def _self_reported(sub: Submission) -> dict[str, Any]:
    envs: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"prompt_tokens": 0, "completion_tokens": 0, "wall_s": 0.0}
    )
    for r in sub.episodes:
        e = envs[r["env_id"]]
        e["prompt_tokens"] += r["prompt_tokens"]
        e["completion_tokens"] += r["completion_tokens"]
        e["wall_s"] = round(e["wall_s"] + r["wall_s"], 4)
    ents = [
        t["entropy"] for tr in sub.trajectories.values() for t in tr["turns"] if t.get("entropy") is not None
    ]
    return {
        "envs": dict(envs),
        "mean_entropy": sum(ents) / len(ents) if ents else None,
        "fields": "tokens, wall time, entropies, AEM alphas, log-probs and raw text are the submitter's",
    }


def _oracle_flags(sub: Submission, kind: str) -> list[str]:
    """Refuse or mark a run whose actions are the env's oracle's while its agent is something else."""
    share, known = sub.oracle_share, sum(len(t["turns"]) for t in sub.trajectories.values())
    if kind == "oracle" or share is None or known < ORACLE_MIN_TURNS:
        return []
    if share >= ORACLE_SHARE:
        raise SubmissionRejected(
            f"every action of this run is the env's oracle action ({known} turns), but "
            f"the agent is {sub.metadata['agent']['spec']!r}: submit the oracle as 'oracle'"
        )
    return [f"{share:.0%} of its actions are the env's oracle actions"] if share >= ORACLE_MARK else []


def record_of(sub: Submission, label: str | None, rep: Reproduction) -> RunRecord:
    """The stored form of a validated, replayed submission."""
    from aem_gym.agents.policy import split_spec

    envs, overall = metrics.summarize(sub.verified)
    for s in envs.values():  # self-reported: kept apart, never in the verified summary
        s.pop("tokens")
        s.pop("wall_s")
    fps = {eid: canonical.fingerprint(t) for eid, t in sub.trajectories.items()}
    sr_keys = ("prompt_tokens", "completion_tokens", "wall_s")
    rows = [
        {
            **{k: v for k, v in r.items() if k not in sr_keys},
            "fingerprint": fps[r["episode_id"]],
            "self_reported": {k: r[k] for k in sr_keys},
        }
        for r in sub.verified
    ]
    canon, traj_hash = canonical.run_hashes(sub.trajectories)
    board, board_label = canonical.board_of(sub.metadata, sub.episodes)
    flags = _oracle_flags(sub, split_spec(sub.metadata["agent"]["spec"])[0])
    return RunRecord(
        content_sha256=sub.digest,
        canonical_sha256=canon,
        trajectories_sha256=traj_hash,
        agent=sub.metadata["agent"]["name"],
        agent_spec=sub.metadata["agent"]["spec"],
        suite=sub.metadata["suite"],
        split=sub.metadata["split"],
        board=board,
        board_label=board_label,
        seeds=list(sub.metadata["seeds"]),
        metadata=sub.metadata,
        summary={"envs": envs, "overall": overall},
        self_reported=_self_reported(sub),
        episodes=rows,
        trajectories=sub.trajectories,
        reproduction=rep.status,
        reproduction_detail=rep.detail,
        flags=flags,
        label=label,
    )


def submit(
    run_dir: Path | str,
    db: Path | str | None = None,
    label: str | None = None,
    progress: bool = False,
    sample: int | None = None,
) -> Accepted:
    """Validate ``run_dir`` (files, coverage, hashes, replay), re-run the episodes (all of them, or a random
    ``sample``) where the agent needs no model, and store it; raise ``SubmissionRejected`` (or
    ``store.DuplicateRun``) with the reason. Re-running every episode makes the verdict certain: a sample
    could miss the one relabelled episode of a cherry-picked run."""
    from aem_gym.agents.policy import split_spec

    if label is not None and len(label) > 256:
        raise SubmissionRejected("--label is longer than 256 characters")
    report = validate(run_dir, replay=True, progress=progress)
    if not report.ok or report.submission is None:
        raise SubmissionRejected(report)
    sub = report.submission
    store = Store(db)
    known = store.query("SELECT id FROM submissions WHERE content_sha256=?", (sub.digest,))
    spec = sub.metadata["agent"]["spec"]
    rep = Reproduction(
        "self-reported",
        {
            "reason": runnable_spec(spec)[1]
            or "not re-run yet: run `aem leaderboard verify ID` on a machine that has the model"
        },
    )
    if not known and split_spec(spec)[0] in NO_MODEL_KINDS:
        rep = reproduce(sub.metadata, sub.trajectories, sample=sample)
        if rep.status == "self-reported" and not rep.detail.get("infra"):  # cannot be rebuilt here
            raise SubmissionRejected(
                f"agent {spec!r} needs no model but cannot be re-run here: {rep.detail.get('reason')}"
            )
        if rep.status == "not reproduced":
            raise SubmissionRejected(
                f"not reproduced: re-running {sub.metadata['agent']['spec']!r} with the "
                f"recorded seeds and settings gives other episodes: "
                f"{rep.detail.get('first_difference')}"
            )
    res = store.submit(record_of(sub, label, rep))
    return Accepted(res, report, rep)
