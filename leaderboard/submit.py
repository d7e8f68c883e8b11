"""``aem leaderboard submit DIR``: validate (with replay), then store in the leaderboard database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aem_gym.leaderboard.store import Store, SubmitResult
from aem_gym.leaderboard.validate import ValidationReport, validate


class SubmissionRejected(ValueError):
    """The run failed validation; ``str(e)`` lists what is wrong."""

    def __init__(self, report: ValidationReport):
        super().__init__(str(report))
        self.report = report


@dataclass
class Accepted:
    result: SubmitResult
    report: ValidationReport


def submit(run_dir: Path | str, db: Path | str | None = None, label: str | None = None,
           progress: bool = False) -> Accepted:
    """Validate ``run_dir`` (schema, coverage, hashes, replay) and store it; raise ``SubmissionRejected``."""
    report = validate(run_dir, replay=True, progress=progress)
    if not report.ok or report.submission is None:
        raise SubmissionRejected(report)
    sub = report.submission
    res = Store(db).submit(sub.summary, sub.metadata, sub.episodes, sub.trajectories, label=label)
    return Accepted(res, report)
