"""What a cheating submitter does to a results directory: edit files, then make them consistent again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from aem_gym.leaderboard.metrics import summarize
from aem_gym.leaderboard.schema import EPISODES_FILE, METADATA_FILE, SUMMARY_FILE, TRAJ_DIR, content_sha256
from aem_gym.leaderboard.store import DuplicateRun, Store
from aem_gym.leaderboard.submit import SubmissionRejected, submit

Rows = list[dict[str, Any]]


def traj_file(run: Path) -> Path:
    return next((run / TRAJ_DIR).glob("*.jsonl"))


def read_rows(path: Path) -> Rows:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def write_rows(path: Path, rows: Rows) -> None:
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def edit_rows(path: Path, fn: Callable[[Rows], Rows | None]) -> None:
    rows = read_rows(path)
    out = fn(rows)
    write_rows(path, rows if out is None else out)


def edit_summary(run: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    s = json.loads((run / SUMMARY_FILE).read_text())
    fn(s)
    (run / SUMMARY_FILE).write_text(json.dumps(s))


def edit_meta(run: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    m = yaml.safe_load((run / METADATA_FILE).read_text())
    fn(m)
    (run / METADATA_FILE).write_text(yaml.safe_dump(m, sort_keys=False))


def rehash(run: Path, numbers: bool = True) -> None:
    """A careful cheater: recompute the summary from the (edited) rows and the content hash."""
    s = json.loads((run / SUMMARY_FILE).read_text())
    if numbers:
        s["envs"], s["overall"] = summarize(read_rows(run / EPISODES_FILE))
    s["content_sha256"] = content_sha256(run)
    (run / SUMMARY_FILE).write_text(json.dumps(s))


def set_agent(run: Path, name: str, spec: str) -> None:
    edit_meta(run, lambda m: m["agent"].update(name=name, spec=spec))
    edit_summary(run, lambda s: s.update(agent=name))


def relabel_best_of(runs: list[Path], out: Path) -> None:
    """Best-of-N cherry-pick: for each task keep the best episode over the N seeds, labelled seed of the
    first run; rows, trajectories, summary and hash rewritten to match."""
    base = read_rows(runs[0] / EPISODES_FILE)
    seed = base[0]["seed"]
    best: dict[str, tuple[dict, dict]] = {}
    for run in runs:
        trajs = {t["episode_id"]: t for t in read_rows(traj_file(run))}
        for r in read_rows(run / EPISODES_FILE):
            cur = best.get(r["instance_id"])
            if cur is None or (r["won"], -r["turns"]) > (cur[0]["won"], -cur[0]["turns"]):
                best[r["instance_id"]] = (r, trajs[r["episode_id"]])
    rows, trajs = [], []
    for b in base:
        r, t = (dict(x) for x in best[b["instance_id"]])
        eid = b["episode_id"]
        r.update(seed=seed, episode_id=eid)
        t.update(seed=seed, episode_id=eid)
        rows.append(r)
        trajs.append(t)
    write_rows(out / EPISODES_FILE, rows)
    write_rows(traj_file(out), trajs)
    rehash(out)


def rejected(run: Path, db: Path, *needles: str) -> str:
    """Submit ``run``: it must be refused with every needle in the one message, and nothing stored."""
    before = Store(db).count()
    with pytest.raises((SubmissionRejected, DuplicateRun)) as e:
        submit(run, db=db)
    msg = str(e.value)
    assert "Traceback" not in msg
    for n in needles:
        assert n in msg, msg
    assert Store(db).count() == before
    return msg
