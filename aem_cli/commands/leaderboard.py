"""``aem leaderboard submit|validate|verify|show|serve``: the local leaderboard (docs/leaderboard.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aem_gym.cli.registry import command


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None,
                   help="SQLite file (default: $AEM_LEADERBOARD_DB or runs/leaderboard.sqlite)")


@command("leaderboard", "submit, validate, rank and serve evaluation results (a local SQLite leaderboard)")
def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = sub.add_parser("submit", help="validate a results dir (with replay) and store it")
    s.add_argument("run_dir", type=Path, nargs="+")
    s.add_argument("--label", default=None, help="free-text note shown with the submission")
    _db(s)
    v = sub.add_parser("validate",
                       help="check a results dir (schema, coverage, hashes, replay) without storing it")
    v.add_argument("run_dir", type=Path)
    v.add_argument("--no-replay", action="store_true", help="skip the replay (schema and hashes only)")
    ve = sub.add_parser("verify", help="re-run a random sample of a submission's episodes with its agent and "
                        "mark it reproduced / not reproduced")
    ve.add_argument("id", type=int, help="submission number (see `aem leaderboard show`)")
    ve.add_argument("--sample", type=int, default=8, help="episodes to re-run (0: all of them)")
    ve.add_argument("--openai-endpoint", default=None,
                    help="base URL to re-run an openai: agent at (its recorded URL is never called)")
    _db(ve)
    sh = sub.add_parser("show", help="print ranking tables")
    sh.add_argument("--board", default=None, help="only this board (its id or id prefix, as shown)")
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
    actions = {"submit": _submit, "validate": _validate, "verify": _verify, "show": _show, "serve": _serve}
    return actions[args.action](args)


def _submit(args: argparse.Namespace) -> int:
    from aem_gym.leaderboard.store import DuplicateRun, default_db_path
    from aem_gym.leaderboard.submit import SubmissionRejected, submit

    bad = 0
    for d in args.run_dir:
        try:
            acc = submit(d, db=args.db, label=args.label, progress=sys.stderr.isatty())
        except SubmissionRejected as e:
            print(f"{d.name}: {e}", file=sys.stderr)
            bad += 1
            continue
        except DuplicateRun as e:
            print(f"{d.name}: rejected:\n  - {e}", file=sys.stderr)
            bad += 1
            continue
        what = "accepted as" if acc.result.created else "already on the leaderboard as"
        flags = "".join(f"\n  flagged: {f}" for f in acc.result.flags)
        where = default_db_path(args.db).name
        print(f"{d.name}: {acc.report}; {what} submission #{acc.result.id} in {where}; "
              f"reproduction: {acc.reproduction}{flags}")
    return 1 if bad else 0


def _verify(args: argparse.Namespace) -> int:
    from aem_gym.leaderboard.reproduce import reproduce
    from aem_gym.leaderboard.store import Store

    store = Store(args.db)
    sub = store.submission(args.id)
    if sub is None:
        print(f"no submission #{args.id} in {store.path.name}", file=sys.stderr)
        return 2
    if args.sample < 0:
        print("--sample must be >= 0 (0: every episode)", file=sys.stderr)
        return 2
    trajs = {e["episode_id"]: store.trajectory(args.id, e["episode_id"])["trajectory"]
             for e in store.episodes(args.id)}
    rep = reproduce(sub["metadata"], trajs, sample=args.sample or None, openai_endpoint=args.openai_endpoint)
    store.set_reproduction(args.id, rep.status, rep.detail)
    print(f"submission #{args.id}: {rep}")
    return 0 if rep.status != "not reproduced" else 1


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
