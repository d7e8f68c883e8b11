"""``aem leaderboard submit|validate|show|serve``: the local leaderboard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aem_gym.cli.registry import command


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, help="SQLite file (default: $AEM_LEADERBOARD_DB or runs/leaderboard.sqlite)")


@command("leaderboard", "submit, validate, rank and serve evaluation results (a local SQLite leaderboard)")
def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = sub.add_parser("submit", help="validate a results dir (with replay) and store it")
    s.add_argument("run_dir", type=Path, nargs="+")
    s.add_argument("--label", default=None, help="free-text note shown with the submission")
    _db(s)
    v = sub.add_parser("validate", help="check a results dir (schema, coverage, hashes, replay) without storing it")
    v.add_argument("run_dir", type=Path)
    v.add_argument("--no-replay", action="store_true", help="skip the replay (schema and hashes only)")
    sh = sub.add_parser("show", help="print ranking tables")
    sh.add_argument("--board", default=None, help="only this board (suite/split/tasks (envs))")
    sh.add_argument("--env", default=None, help="rank by this env only")
    sh.add_argument("--agent", default=None, help="only agents whose name/spec/label contains this")
    sh.add_argument("--split", default=None)
    sh.add_argument("--by", choices=["overall", "env", "task-type"], default="overall")
    _db(sh)
    sv = sub.add_parser("serve", help="serve the leaderboard web page")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8765)
    sv.add_argument("--runs", type=Path, default=Path("runs/baselines"),
                    help="where baseline training runs live (for the training-curve plot)")
    _db(sv)


@configure.handler
def run(args: argparse.Namespace) -> int:
    return {"submit": _submit, "validate": _validate, "show": _show, "serve": _serve}[args.action](args)


def _submit(args: argparse.Namespace) -> int:
    from aem_gym.leaderboard.store import default_db_path
    from aem_gym.leaderboard.submit import SubmissionRejected, submit

    bad = 0
    for d in args.run_dir:
        try:
            acc = submit(d, db=args.db, label=args.label, progress=sys.stderr.isatty())
        except SubmissionRejected as e:
            print(f"{d}: {e}", file=sys.stderr)
            bad += 1
            continue
        what = "accepted as" if acc.result.created else "already on the leaderboard as"
        print(f"{d}: {acc.report}; {what} submission #{acc.result.id} in {default_db_path(args.db)}")
    return 1 if bad else 0


def _validate(args: argparse.Namespace) -> int:
    from aem_gym.leaderboard.validate import validate

    report = validate(args.run_dir, replay=not args.no_replay, progress=sys.stderr.isatty())
    print(report)
    return 0 if report.ok else 1


def _show(args: argparse.Namespace) -> int:
    from aem_gym.leaderboard import ranking
    from aem_gym.leaderboard.store import Store

    f = ranking.Filters(board=args.board, env=args.env, agent=args.agent, split=args.split)
    print(ranking.render(Store(args.db), args.by, f))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from aem_gym.leaderboard.web import serve

    serve(args.db, host=args.host, port=args.port, runs_dir=args.runs)
    return 0
