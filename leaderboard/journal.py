"""The crash-safe journal of an ``aem eval`` run, behind ``aem eval --resume``.

While a run goes, every finished episode is appended to ``DIR/journal.jsonl`` as one line (its episode row
and trajectory row), flushed and fsync'ed before the next is written, so a run killed at any moment (out
of memory, a lost connection, Ctrl-C, ``kill -9``) loses at most the episodes still running. ``run.json``
records what the run is (agent spec, suite, settings and every planned episode); a resume must match it.

``--resume`` reads the journal (a line torn by the kill is dropped), keeps the finished episodes and runs
the others; episodes that ended with ``status == "error"`` (the backend failed) are run again. The final
files are written from the journal in plan order, so a resumed run's results are those of an unbroken run
(request seeds depend on the episode, never on its position: ``agents.episode.request_seed``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aem_gym.leaderboard.schema import EpisodeRow, TrajectoryRow, TurnRow

JOURNAL_FILE = "journal.jsonl"
RUN_FILE = "run.json"


class ResumeError(ValueError):
    """The directory holds another run, or a journal that cannot be read."""


class Journal:
    """``open(identity, resume)`` → the finished entries by episode id; ``append(row, traj)`` per
    episode."""

    def __init__(self, out: Path | str):
        self.out = Path(out)
        self.path, self.run_path = self.out / JOURNAL_FILE, self.out / RUN_FILE
        self._f: Any = None

    def open(self, identity: dict[str, Any], resume: bool) -> dict[str, tuple[EpisodeRow, TrajectoryRow]]:
        ident = json.loads(json.dumps(identity))  # JSON-normal form, as it is stored
        if self.run_path.exists():
            if not resume:
                raise ResumeError(f"{self.out} holds a started run ({self.count()} episodes finished): "
                                  "continue it with --resume, or choose another --out")
            stored = json.loads(self.run_path.read_text(encoding="utf-8"))
            if stored != ident:
                diff = sorted(k for k in set(stored) | set(ident) if stored.get(k) != ident.get(k))
                raise ResumeError(f"--resume: {self.out} holds a run with other {', '.join(diff)}; resume it "
                                  "with the same arguments, or choose another --out")
            entries = self._read()
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            tmp = self.run_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(ident, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.run_path)
            entries = []
        done = {e[0].episode_id: e for e in entries if e[0].status != "error"}
        self._rewrite(list(done.values()))  # drops a torn tail and the errored episodes (they run again)
        self._f = self.path.open("a", encoding="utf-8")
        return done

    def append(self, row: EpisodeRow, traj: TrajectoryRow) -> None:
        self._f.write(_line(row, traj))
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def count(self) -> int:
        return len(self._read()) if self.path.exists() else 0

    def _read(self) -> list[tuple[EpisodeRow, TrajectoryRow]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").split("\n")
        out = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append((EpisodeRow(**d["episode"]), _traj(d["trajectory"])))
            except (json.JSONDecodeError, KeyError, TypeError):
                if i == len(lines) - 1:  # the last line, cut by the kill: that episode runs again
                    break
                raise ResumeError(f"{self.path} line {i + 1} is damaged; remove the directory and run "
                                  "again") from None
        return out

    def _rewrite(self, entries: list[tuple[EpisodeRow, TrajectoryRow]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.writelines(_line(r, t) for r, t in entries)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def _line(row: EpisodeRow, traj: TrajectoryRow) -> str:
    return json.dumps({"episode": row.to_json(), "trajectory": traj.to_json()}, ensure_ascii=False) + "\n"


def _traj(d: dict[str, Any]) -> TrajectoryRow:
    return TrajectoryRow(**{**d, "turns": [TurnRow(**t) for t in d["turns"]]})
