"""Validate a results directory and verify it by replay before the leaderboard accepts it.

Checks, in order (the first four stop at the first broken file; later ones collect every problem):

1. the directory: only the files ``aem eval`` writes, each a regular file under its size cap
   (``safeio``); schema of ``summary.json``, ``metadata.yaml`` (no aliases), ``episodes.jsonl`` and every
   trajectory file; finite numbers, seeds within int64, capped string fields;
2. ``content_sha256`` in the summary equals the hash of the episode and trajectory files;
3. the envs are the ones installed here: same task set, version and manifest hash, same backend versions,
   and each env's recorded split is what the run's ``split`` resolves to;
4. coverage: the (instance, seed) set is exactly what the run's protocol (split, ``episodes_per_env``,
   seeds) plans (``runner.plan``), every (instance, seed) has exactly one episode and one trajectory;
5. each row agrees with its trajectory (turns, rewards, invalid actions, tokens);
6. replay (``replaycheck``): the verified rows come from what the envs answered; every submitted row and
   every summary figure must equal what follows from them (a forged field is a rejection, never stored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aem_gym.leaderboard import metrics, safeio
from aem_gym.leaderboard.journal import JOURNAL_FILE, RUN_FILE
from aem_gym.leaderboard.reproduce import NO_MODEL_KINDS
from aem_gym.leaderboard.schema import (
    EPISODE_SCHEMA,
    EPISODES_FILE,
    METADATA_FILE,
    METADATA_SCHEMA,
    SUMMARY_FILE,
    SUMMARY_SCHEMA,
    TRAJ_DIR,
    TRAJECTORY_SCHEMA,
    SchemaError,
    check,
    digest_files,
    env_slug,
    episode_id,
    parse_json_file,
    parse_jsonl,
    parse_yaml,
)

MAX_PROBLEMS = 20  # enough to see a pattern without flooding the terminal


@dataclass
class Submission:
    """A parsed results directory."""

    path: Path
    summary: dict[str, Any]
    metadata: dict[str, Any]
    episodes: list[dict[str, Any]]
    trajectories: dict[str, dict[str, Any]]  # episode_id -> trajectory
    digest: str = ""  # content_sha256 of the bytes read
    verified: list[dict[str, Any]] = field(default_factory=list)  # rows recomputed by replay
    rules: dict[str, str] = field(default_factory=dict)  # env id -> replay rule for observations
    oracle_share: float | None = None  # share of turns whose action is the env's oracle action


@dataclass
class ValidationReport:
    ok: bool
    problems: list[str] = field(default_factory=list)
    episodes: int = 0
    replayed: bool = False
    replayed_turns: int = 0
    submission: Submission | None = None

    def __str__(self) -> str:
        if self.ok and not self.replayed:
            return f"valid (not replayed): {self.episodes} episodes; schema, hashes and coverage checked"
        if self.ok:
            return (f"valid: {self.episodes} episodes, {self.replayed_turns} turns replayed "
                    "with identical rewards")
        more = "" if len(self.problems) < MAX_PROBLEMS else f"\n  (stopped after {MAX_PROBLEMS} problems)"
        return "rejected:\n  - " + "\n  - ".join(self.problems) + more


class _Problems(list):
    def add(self, msg: str) -> None:
        if len(self) < MAX_PROBLEMS:
            self.append(msg)


# aem eval's resume journal (leaderboard.journal) sits beside the results: allowed as a plain file,
# never read.
TOP_LEVEL = {SUMMARY_FILE: "file", METADATA_FILE: "file", EPISODES_FILE: "file", TRAJ_DIR: "dir",
             JOURNAL_FILE: "file", RUN_FILE: "file"}


def load_submission(run_dir: Path | str) -> Submission:
    """Read (never following links, within size caps) and schema-check a results directory; raises
    ``SchemaError`` (or ``safeio.UnsafeInput``, a ``ValueError`` too) with one clear message."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SchemaError(f"{run_dir.name or run_dir} is not a results directory")
    caps = safeio.MAX_BYTES
    present = safeio.list_dir(run_dir, TOP_LEVEL, "")
    summary = parse_json_file(safeio.read_regular(run_dir / SUMMARY_FILE, caps[SUMMARY_FILE]), SUMMARY_FILE)
    check(summary, SUMMARY_SCHEMA, SUMMARY_FILE)
    meta = parse_yaml(safeio.read_regular(run_dir / METADATA_FILE, caps[METADATA_FILE]), METADATA_FILE)
    check(meta, METADATA_SCHEMA, METADATA_FILE)
    files = {EPISODES_FILE: safeio.read_regular(run_dir / EPISODES_FILE, caps[EPISODES_FILE])}
    episodes = parse_jsonl(files[EPISODES_FILE], EPISODES_FILE, EPISODE_SCHEMA)
    trajs: dict[str, dict[str, Any]] = {}
    names = (safeio.list_dir(run_dir / TRAJ_DIR, {"*.jsonl": "file"}, f"{TRAJ_DIR}/")
             if TRAJ_DIR in present else {})
    known = {f"{env_slug(e)}.jsonl" for e in meta["envs"]}
    total = sum(len(b) for b in files.values())
    for name in names:
        if name not in known:
            raise SchemaError(f"{TRAJ_DIR}/{name} belongs to no env of the run (expected {sorted(known)})")
        rel = f"{TRAJ_DIR}/{name}"
        files[rel] = safeio.read_regular(run_dir / TRAJ_DIR / name, caps["trajectory"], rel)
        total += len(files[rel])
        if total > safeio.MAX_TOTAL_BYTES:
            raise SchemaError(f"the results directory is over {safeio.MAX_TOTAL_BYTES:,} bytes")
        for t in parse_jsonl(files[rel], rel, TRAJECTORY_SCHEMA):
            if t["episode_id"] in trajs:
                raise SchemaError(f"{rel}: episode {t['episode_id']!r} appears twice")
            trajs[t["episode_id"]] = t
    return Submission(run_dir, summary, meta, episodes, trajs, digest_files(files))


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def _replay_rule(env_id: str) -> str:
    """How replay compares observations for ``env_id`` (``replaycheck``): the env class's
    ``metadata["replay_observations"]``, "exact" unless it says "volatile"."""
    import aem_envs

    try:
        env = aem_envs.make(env_id)
    except Exception:  # noqa: BLE001 - already reported by the planner
        return "exact"
    try:
        return str(env.unwrapped.metadata.get("replay_observations", "exact"))
    finally:
        env.close()


def _check_envs(sub: Submission, probs: _Problems) -> dict[str, list[tuple[str, int]]]:
    """Compare each env's record with the plan the run's protocol gives here; return the planned episodes."""
    from aem_gym.agents.evaluate import EvalConfig
    from aem_gym.leaderboard.runner import package_versions, plan

    meta, expected = sub.metadata, {}
    try:
        cfg = EvalConfig(split=meta["split"], episodes=meta["episodes_per_env"], seeds=list(meta["seeds"]),
                         progress=False)
    except ValueError as e:
        probs.add(f"{METADATA_FILE}: {e}")
        return {}
    for env_id, rec in meta["envs"].items():
        try:
            have = plan(env_id, cfg)
        except Exception as e:  # noqa: BLE001 - an env that cannot start here cannot be verified
            probs.add(f"{env_id}: cannot be planned on this machine ({type(e).__name__}: {str(e)[:300]})")
            continue
        for key in ("task_set", "version", "manifest_sha256"):
            if rec[key] != have.record[key]:
                probs.add(f"{env_id}: {key} is {str(rec[key])[:80]!r} in the submission but "
                          f"{have.record[key]!r} here (different task data: results are not comparable)")
        if rec["split"] != have.split:
            probs.add(f"{env_id}: the run records split {rec['split']!r} but its split {meta['split']!r} "
                      f"resolves to {have.split!r} (boards are keyed by each env's resolved split)")
        installed = package_versions(list(rec.get("backends", {})))
        for dist, ver in rec.get("backends", {}).items():
            if installed.get(dist) is not None and installed[dist] != ver:
                probs.add(f"{env_id}: backend {dist} {ver} in the submission but {installed[dist]} installed")
        if rec["instances"] != have.instances:
            missing = [i for i in have.instances if i not in rec["instances"]]
            extra = [i for i in rec["instances"] if i not in have.instances]
            what = f"{len(missing)} missing (e.g. {missing[:3]})" if missing else ""
            what += ("; " if what and extra else "") + (f"{len(extra)} not in the plan (e.g. {extra[:3]})"
                                                        if extra else "")
            n = meta["episodes_per_env"]
            probs.add(f"{env_id}: instances are not the tasks split {have.split!r}"
                      f"{' with ' + str(n) + ' tasks per env' if n else ''} plans: {what or 'wrong order'}")
        expected[env_id] = list(have.tasks)
        sub.rules[env_id] = _replay_rule(env_id)
    return expected


def _check_coverage(sub: Submission, expected: dict[str, list[tuple[str, int]]], probs: _Problems) -> None:
    # An episode whose backend failed (status "error") is left out of aem eval's rates; on a board that would
    # let a submitter drop hard tasks by relabelling them, and replay cannot tell a real outage from a label.
    # So a board takes complete runs only.
    failed = [r["episode_id"] for r in sub.episodes if r.get("status", "ok") != "ok"]
    if failed:
        probs.add(f"{len(failed)} episode(s) ended in a backend error (status 'error'), e.g. {failed[:3]}: "
                  "rerun them with `aem eval ... --resume` and submit the complete run")
    want = {episode_id(e, i, s) for e, tasks in expected.items() for i, s in tasks}
    have: dict[str, int] = {}
    for r in sub.episodes:
        have[r["episode_id"]] = have.get(r["episode_id"], 0) + 1
        if r["episode_id"] != episode_id(r["env_id"], r["instance_id"], r["seed"]):
            probs.add(f"episode {r['episode_id']!r}: id does not match its env/instance/seed fields")
        env_split = sub.metadata["envs"].get(r["env_id"], {}).get("split")
        if r["split"] != env_split:
            probs.add(f"episode {r['episode_id']!r}: split {r['split']!r}, "
                      f"the run used {env_split!r} for its env")
        if r["trajectory_file"] != f"{TRAJ_DIR}/{env_slug(r['env_id'])}.jsonl":
            probs.add(f"episode {r['episode_id']!r}: trajectory_file {r['trajectory_file']!r} "
                      "is not its env's file")
    missing = sorted(want - have.keys())
    if missing:
        probs.add(f"{len(missing)} episode(s) of the board's (task, seed) set missing from {EPISODES_FILE}, "
                  f"e.g. {missing[:3]}")
    extra = sorted(have.keys() - want)
    if extra:
        probs.add(f"{len(extra)} episode(s) in {EPISODES_FILE} not in the run's plan, e.g. {extra[:3]}")
    dup = sorted(k for k, c in have.items() if c > 1)
    if dup:
        probs.add(f"{len(dup)} episode(s) listed more than once, e.g. {dup[:3]}")
    no_traj = sorted(have.keys() - sub.trajectories.keys())
    if no_traj:
        probs.add(f"{len(no_traj)} episode(s) without a trajectory in {TRAJ_DIR}/, e.g. {no_traj[:3]}")
    orphans = sorted(sub.trajectories.keys() - have.keys())
    if orphans:
        probs.add(f"{len(orphans)} trajectory(ies) with no row in {EPISODES_FILE}, e.g. {orphans[:3]}")
    seeds = sub.metadata["seeds"]
    if sorted(sub.summary["seeds"]) != sorted(seeds):
        probs.add(f"{SUMMARY_FILE} seeds {sub.summary['seeds']} differ from {METADATA_FILE} seeds {seeds}")
    for key, mkey in (("agent", None), ("suite", "suite"), ("split", "split")):
        mval = sub.metadata["agent"]["name"] if mkey is None else sub.metadata[mkey]
        if sub.summary[key] != mval:
            probs.add(f"{SUMMARY_FILE} {key} {sub.summary[key]!r} differs from {METADATA_FILE} ({mval!r})")


def _check_rows(sub: Submission, probs: _Problems) -> None:
    """Each episode row against its own trajectory (what a replay-free check can see)."""
    from aem_gym.agents.policy import split_spec

    no_model = split_spec(sub.metadata["agent"]["spec"])[0] in NO_MODEL_KINDS
    for r in sub.episodes:
        t = sub.trajectories.get(r["episode_id"])
        if t is None:
            continue
        eid, turns = r["episode_id"], t["turns"]
        if (t["env_id"], t["instance_id"], t["seed"]) != (r["env_id"], r["instance_id"], r["seed"]):
            probs.add(f"episode {eid!r}: trajectory names another env/instance/seed")
        sums = {"turns": len(turns), "score": sum(x["reward"] for x in turns),
                "invalid_actions": sum(not x["is_action_valid"] for x in turns),
                "prompt_tokens": sum(x.get("prompt_tokens", 0) for x in turns),
                "completion_tokens": sum(x.get("completion_tokens", 0) for x in turns)}
        for key, val in sums.items():
            if not _close(r[key], val):
                probs.add(f"episode {eid!r}: {key} is {r[key]} but its trajectory gives {val}")
        if [x["turn_idx"] for x in turns] != list(range(len(turns))):
            probs.add(f"episode {eid!r}: turn_idx is not 0, 1, 2, …")
        model_fields = any(x.get(k) is not None for x in turns for k in ("entropy", "logprob", "aem_alpha"))
        if no_model and (model_fields or sums["prompt_tokens"] + sums["completion_tokens"] > 0):
            probs.add(f"episode {eid!r}: agent {sub.metadata['agent']['spec']!r} has no model, yet the run "
                      "reports entropies, log-probs or token counts")


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or isinstance(a, str):
        return a == b
    return isinstance(b, int | float) and _close(a, b)


def check_figures(sub: Submission, rows: list[dict[str, Any]], probs: _Problems) -> None:
    """Every submitted row field and summary figure must equal what the verified ``rows`` give."""
    by_id = {r["episode_id"]: r for r in rows}
    for r in sub.episodes:
        v = by_id.get(r["episode_id"])
        for key in ("won", "score", "turns", "invalid_actions", "task_type", "terminated", "truncated"):
            if v is not None and not _same(r[key], v[key]):
                shown = repr(r[key][:60]) if isinstance(r[key], str) else repr(r[key])
                probs.add(f"episode {r['episode_id']!r}: {key} is {shown} in {EPISODES_FILE} but "
                          f"the replay gives {v[key]!r}")
    envs, overall = metrics.summarize(rows)
    got = _flat({"envs": envs, "overall": overall})
    claimed = _flat({"envs": sub.summary["envs"], "overall": sub.summary["overall"]})
    for key in sorted(got.keys() | claimed.keys()):
        if key not in claimed or key not in got or not _same(claimed[key], got[key]):
            probs.add(f"{SUMMARY_FILE}: {key} is {str(claimed.get(key, 'missing'))[:60]} but the verified "
                      f"episodes give {got.get(key, 'nothing')}")


def _replay(sub: Submission, probs: _Problems, progress: bool) -> int:
    from aem_gym.leaderboard.replaycheck import run_replay

    rows = [r for r in sub.episodes if r["episode_id"] in sub.trajectories]
    out = run_replay(rows, sub.trajectories, sub.metadata["max_turns"], sub.rules, progress)
    for m in out.problems:
        probs.add(m)
    sub.verified = out.rows
    sub.oracle_share = out.oracle_turns / out.oracle_known if out.oracle_known else None
    return out.turns


def validate(run_dir: Path | str, replay: bool = True, progress: bool = False) -> ValidationReport:
    """Run every check; ``report.ok`` only if nothing is wrong. Never raises on bad submissions."""
    try:
        sub = load_submission(run_dir)
    except (SchemaError, safeio.UnsafeInput) as e:
        return ValidationReport(False, [str(e)])
    probs = _Problems()
    if sub.digest != sub.summary["content_sha256"]:
        probs.add(f"wrong hash: {EPISODES_FILE} or {TRAJ_DIR}/ changed after the run was written "
                  f"(content_sha256 is {sub.digest[:12]}…, {SUMMARY_FILE} says "
                  f"{sub.summary['content_sha256'][:12]}…)")
    expected = _check_envs(sub, probs)
    if probs:  # other envs or task data: comparing numbers would only add noise
        return ValidationReport(False, list(probs), len(sub.episodes), submission=sub)
    _check_coverage(sub, expected, probs)
    _check_rows(sub, probs)
    if probs or not replay:
        return ValidationReport(not probs, list(probs), len(sub.episodes), submission=sub)
    turns = _replay(sub, probs, progress)
    if not probs:
        check_figures(sub, sub.verified, probs)
    return ValidationReport(not probs, list(probs), len(sub.episodes), True, turns, sub)
