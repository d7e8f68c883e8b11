"""Validate a results directory and verify it by replay before the leaderboard accepts it.

Checks, in order (the first four stop at the first broken file; later ones collect every problem):

1. schema of ``summary.json``, ``metadata.yaml``, ``episodes.jsonl`` and every trajectory file;
2. ``content_sha256`` in the summary equals the hash of the episode and trajectory files;
3. the envs are the ones installed here: same task set, version and manifest hash, same backend versions;
4. coverage: the instances are the whole split (or its first N tasks in manifest order when the run says
   ``episodes_per_env: N``), and every (instance, seed) has exactly one episode and one trajectory;
5. the summary's numbers follow from the episode rows, and each row agrees with its trajectory;
6. replay: each trajectory's replies are played again through the episode loop (``agents.replay``) on
   the env stack the evaluation used (``ActionParser`` + ``TurnLimit``), reset with the recorded seed and
   instance id; every observation, reward, termination flag and the final ``won`` must match. Envs are
   deterministic per seed, so any difference means the run was edited (or the env changed). An episode the
   evaluation loop stopped (``stopped``: timeout or env error) is replayed up to where it was stopped and
   must not be won. The software-repair env re-grades the final patch when its ``submit`` is replayed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aem_gym.leaderboard import metrics
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
    content_sha256,
    env_slug,
    episode_id,
    load_json,
    load_yaml,
    read_jsonl,
)

MAX_PROBLEMS = 20  # enough to see a pattern without flooding the terminal
REPLAY_WORKERS = 2  # env threads for replay (the software-repair env waits on its sandbox)
REPLAY_CONCURRENT = 16  # episodes replayed at once (each may hold a sandbox)


@dataclass
class Submission:
    """A parsed results directory."""

    path: Path
    summary: dict[str, Any]
    metadata: dict[str, Any]
    episodes: list[dict[str, Any]]
    trajectories: dict[str, dict[str, Any]]  # episode_id -> trajectory


@dataclass
class ValidationReport:
    ok: bool
    problems: list[str] = field(default_factory=list)
    episodes: int = 0
    replayed_turns: int = 0
    submission: Submission | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"valid: {self.episodes} episodes, {self.replayed_turns} turns replayed with identical rewards"
        more = "" if len(self.problems) < MAX_PROBLEMS else f"\n  (stopped after {MAX_PROBLEMS} problems)"
        return "rejected:\n  - " + "\n  - ".join(self.problems) + more


class _Problems(list):
    def add(self, msg: str) -> None:
        if len(self) < MAX_PROBLEMS:
            self.append(msg)


def load_submission(run_dir: Path | str) -> Submission:
    """Parse and schema-check a results directory (raises ``SchemaError``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SchemaError(f"{run_dir} is not a results directory")
    summary = load_json(run_dir / SUMMARY_FILE)
    check(summary, SUMMARY_SCHEMA, SUMMARY_FILE)
    meta = load_yaml(run_dir / METADATA_FILE)
    check(meta, METADATA_SCHEMA, METADATA_FILE)
    episodes = read_jsonl(run_dir / EPISODES_FILE, EPISODE_SCHEMA)
    trajs: dict[str, dict[str, Any]] = {}
    tdir = run_dir / TRAJ_DIR
    for p in sorted(tdir.glob("*.jsonl")) if tdir.is_dir() else []:
        for t in read_jsonl(p, TRAJECTORY_SCHEMA):
            if t["episode_id"] in trajs:
                raise SchemaError(f"{TRAJ_DIR}/{p.name}: episode {t['episode_id']!r} appears twice")
            trajs[t["episode_id"]] = t
    return Submission(run_dir, summary, meta, episodes, trajs)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def _check_envs(sub: Submission, probs: _Problems) -> dict[str, list[str]]:
    """Compare recorded env versions/manifests with the installed ones; return the expected instances."""
    import aem_envs
    from aem_gym.agents.evaluate import env_record
    from aem_gym.leaderboard.runner import package_versions

    meta, expected = sub.metadata, {}
    for env_id, rec in meta["envs"].items():
        try:
            env = aem_envs.make(env_id)
        except Exception as e:  # noqa: BLE001 - an env that cannot start here cannot be verified
            probs.add(f"{env_id}: cannot be made on this machine ({type(e).__name__}: {e})")
            continue
        try:
            have = env_record(env, rec["split"])
        except Exception as e:  # noqa: BLE001
            probs.add(f"{env_id}: cannot read split {rec['split']!r} ({e})")
            continue
        finally:
            env.close()
        for key in ("task_set", "version", "manifest_sha256"):
            if rec[key] != have[key]:
                probs.add(f"{env_id}: {key} is {rec[key]!r} in the submission but {have[key]!r} here "
                          "(different task data: results are not comparable)")
        installed = package_versions(list(rec.get("backends", {})))
        for dist, ver in rec.get("backends", {}).items():
            if installed.get(dist) is not None and installed[dist] != ver:
                probs.add(f"{env_id}: backend {dist} {ver} in the submission but {installed[dist]} installed")
        ids, n = have["split_ids"], meta["episodes_per_env"]
        want = ids[:n] if n else ids
        if rec["instances"] != want:
            missing = [i for i in want if i not in rec["instances"]]
            extra = [i for i in rec["instances"] if i not in want]
            what = f"{len(missing)} missing (e.g. {missing[:3]})" if missing else ""
            what += ("; " if what and extra else "") + (f"{len(extra)} not in the split's first "
                                                        f"{len(want)} (e.g. {extra[:3]})" if extra else "")
            probs.add(f"{env_id}: instances do not cover split {rec['split']!r}"
                      f"{' (first ' + str(n) + ')' if n else ''}: {what or 'wrong order'}")
        expected[env_id] = want
    return expected


def _check_coverage(sub: Submission, expected: dict[str, list[str]], probs: _Problems) -> None:
    seeds = sub.metadata["seeds"]
    want = {episode_id(e, i, s) for e, ids in expected.items() for i in ids for s in seeds}
    have: dict[str, int] = {}
    for r in sub.episodes:
        have[r["episode_id"]] = have.get(r["episode_id"], 0) + 1
        if r["episode_id"] != episode_id(r["env_id"], r["instance_id"], r["seed"]):
            probs.add(f"episode {r['episode_id']!r}: id does not match its env/instance/seed fields")
        env_split = sub.metadata["envs"].get(r["env_id"], {}).get("split")
        if r["split"] != env_split:
            probs.add(f"episode {r['episode_id']!r}: split {r['split']!r}, the run used {env_split!r} for its env")
        if r["trajectory_file"] != f"{TRAJ_DIR}/{env_slug(r['env_id'])}.jsonl":
            probs.add(f"episode {r['episode_id']!r}: trajectory_file {r['trajectory_file']!r} is not its env's file")
    missing = sorted(want - have.keys())
    if missing:
        probs.add(f"{len(missing)} episode(s) missing from {EPISODES_FILE}, e.g. {missing[:3]}")
    extra = sorted(have.keys() - want)
    if extra:
        probs.add(f"{len(extra)} episode(s) in {EPISODES_FILE} not in the run's plan, e.g. {extra[:3]}")
    dup = sorted(k for k, c in have.items() if c > 1)
    if dup:
        probs.add(f"{len(dup)} episode(s) listed more than once, e.g. {dup[:3]}")
    no_traj = sorted(have.keys() - sub.trajectories.keys())
    if no_traj:
        probs.add(f"{len(no_traj)} episode(s) without a trajectory in {TRAJ_DIR}/, e.g. {no_traj[:3]}")
    if sorted(sub.summary["seeds"]) != sorted(seeds):
        probs.add(f"{SUMMARY_FILE} seeds {sub.summary['seeds']} differ from {METADATA_FILE} seeds {seeds}")
    for key, mkey in (("agent", None), ("suite", "suite"), ("split", "split")):
        mval = sub.metadata["agent"]["name"] if mkey is None else sub.metadata[mkey]
        if sub.summary[key] != mval:
            probs.add(f"{SUMMARY_FILE} {key} {sub.summary[key]!r} differs from {METADATA_FILE} ({mval!r})")


def _check_numbers(sub: Submission, probs: _Problems) -> None:
    envs, overall = metrics.summarize(sub.episodes)
    if set(envs) != set(sub.summary["envs"]):
        probs.add(f"{SUMMARY_FILE} lists envs {sorted(sub.summary['envs'])}, the episodes cover {sorted(envs)}")
    for env_id, got in envs.items():
        claimed = sub.summary["envs"].get(env_id)
        if claimed is None:
            continue
        for key in ("episodes", "success_rate", "mean_score"):
            if not _close(claimed[key], got[key]):
                probs.add(f"{SUMMARY_FILE}: {env_id} {key} is {claimed[key]} but the episodes give {got[key]}")
    if not _close(sub.summary["overall"]["success_rate"], overall["success_rate"]):
        probs.add(f"{SUMMARY_FILE}: overall success_rate {sub.summary['overall']['success_rate']} but the "
                  f"episodes give {overall['success_rate']}")
    for r in sub.episodes:
        t = sub.trajectories.get(r["episode_id"])
        if t is None:
            continue
        total = sum(x["reward"] for x in t["turns"])
        if len(t["turns"]) != r["turns"]:
            probs.add(f"episode {r['episode_id']!r}: {r['turns']} turns claimed, the trajectory has {len(t['turns'])}")
        if not _close(total, r["score"]):
            probs.add(f"episode {r['episode_id']!r}: score {r['score']} but its trajectory's rewards sum to {total}")
        if (t["env_id"], t["instance_id"], t["seed"]) != (r["env_id"], r["instance_id"], r["seed"]):
            probs.add(f"episode {r['episode_id']!r}: trajectory names another env/instance/seed")


def compare_replay(rec: dict[str, Any], got: Any) -> list[str]:
    """Problems between a recorded trajectory and its replay (``agents.records.Trajectory``); the first
    difference of an episode is enough."""
    eid, stopped, turns = rec["episode_id"], rec.get("stopped"), rec["turns"]
    if got.error is not None:
        return [f"replay {eid}: the env failed on replay ({got.error})"]
    if (turns or not stopped) and got.first_observation != rec["reset_observation"]:
        return [f"replay {eid}: first observation differs from the recorded one"]
    for i, (t, row) in enumerate(zip(turns, got.turns, strict=False)):
        if row.observation != t["observation"]:
            return [f"replay {eid} turn {t['turn_idx']}: observation before the action differs"]
        cut = i == got.length - 1 and got.budget_reached  # the loop stopped here, not the env
        flags = (row.done and not row.truncated, row.truncated and not cut)
        out = []
        if not _close(float(row.reward), t["reward"]):
            out.append(f"replay {eid} turn {t['turn_idx']}: claimed reward {t['reward']} but the env gives "
                       f"{row.reward}")
        if flags != (t["terminated"], t["truncated"]):
            out.append(f"replay {eid} turn {t['turn_idx']}: claimed terminated/truncated "
                       f"{t['terminated']}/{t['truncated']}, the env gives {flags[0]}/{flags[1]}")
        if out:
            return out
    if got.length < len(turns):
        return [f"replay {eid}: the episode ended at turn {got.length - 1} but more turns are recorded"]
    if turns and not stopped and not (turns[-1]["terminated"] or turns[-1]["truncated"]):
        return [f"replay {eid}: the recorded episode never ended (no terminated/truncated turn)"]
    if (turns or not stopped) and got.final_observation != rec["final_observation"]:
        return [f"replay {eid}: final observation differs from the recorded one"]
    return []


def _replay(sub: Submission, probs: _Problems, progress: bool) -> int:
    from aem_gym.agents.episode import EpisodeSpec
    from aem_gym.agents.replay import replay, reply_for
    from aem_gym.agents.rollout import RolloutEngine

    rows = [r for r in sub.episodes if r["episode_id"] in sub.trajectories]
    specs, replies = [], {}
    for r in rows:
        t = sub.trajectories[r["episode_id"]]
        replies[t["episode_id"]] = [reply_for(x["action"], bool(x["info"].get("parse_error")),
                                              x["info"].get("reply_cut")) for x in t["turns"]]
        specs.append(EpisodeSpec(t["env_id"], t["seed"], t["instance_id"], group_uid=t["episode_id"],
                                 traj_uid=t["episode_id"], options={"split": r["split"]},
                                 max_turns=len(t["turns"])))
    engine = RolloutEngine(workers=REPLAY_WORKERS, progress=progress, max_concurrent=REPLAY_CONCURRENT)
    result = replay(specs, replies, sub.metadata["max_turns"], engine)
    turns = 0
    for r, got in zip(rows, result.trajectories, strict=True):
        rec = sub.trajectories[r["episode_id"]]
        msgs = compare_replay(rec, got)
        turns += got.length
        for m in msgs:
            probs.add(m)
        if not msgs and bool(got.won) != r["won"]:
            probs.add(f"replay {r['episode_id']}: claimed won={r['won']} but the env says {bool(got.won)}")
    return turns


def validate(run_dir: Path | str, replay: bool = True, progress: bool = False) -> ValidationReport:
    """Run every check; ``report.ok`` only if nothing is wrong. Never raises on bad submissions."""
    try:
        sub = load_submission(run_dir)
    except SchemaError as e:
        return ValidationReport(False, [str(e)])
    probs = _Problems()
    digest = content_sha256(sub.path)
    if digest != sub.summary["content_sha256"]:
        probs.add(f"wrong hash: {EPISODES_FILE} or {TRAJ_DIR}/ changed after the run was written "
                  f"(content_sha256 is {digest[:12]}…, {SUMMARY_FILE} says {sub.summary['content_sha256'][:12]}…)")
    expected = _check_envs(sub, probs)
    if probs:  # other envs or task data: comparing numbers would only add noise
        return ValidationReport(False, list(probs), len(sub.episodes), submission=sub)
    _check_coverage(sub, expected, probs)
    _check_numbers(sub, probs)
    turns = _replay(sub, probs, progress) if replay and not probs else 0
    return ValidationReport(not probs, list(probs), len(sub.episodes), turns, sub)
