"""``aem leaderboard serve``: the leaderboard web page (stdlib ``http.server``, no framework).

Pages are static HTML + JS under ``leaderboard/static/`` that render JSON from the API, so the browser
test sees exactly what a user sees:

    /                           ranking per board: overall and per-env success, links to details
    /submission?id=N            metadata (agent, seeds, env versions, manifest hashes), per-env and
                                per-task-type numbers, plot, episode list
    /episode?id=N&e=EPISODE     trajectory viewer: every turn's observation, action, reward, entropy, AEM α
    /api/ranking                /api/submission?id=N    /api/episode?id=N&e=EPISODE
    /plot/task_types.png?id=N   success per task type (matplotlib PNG)
    /plot/ranking.png?board=B   success per env per agent on board B, error bars = std-err over seeds
    /plot/training.png          training curves of the baseline runs (``runs/baselines/*/metrics.csv``)

Routes register with ``@route(path)``; handlers return ``(status, content_type, body)``. Everything is
read-only: the server never writes to the database. Every response carries a Content-Security-Policy
(scripts only from the server and the pages' own inline scripts, by hash; no frames, no plugins) and
``X-Content-Type-Options: nosniff``; names from submissions reach the page with bidi and control
characters neutralised (``text.safe_text``); a malformed id is a 400.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import mimetypes
import re
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from aem_envs.registry import Registry
from aem_gym.leaderboard.store import Store
from aem_gym.leaderboard.text import safe_text

STATIC = Path(__file__).parent / "static"
Response = tuple[int, str, bytes]
Handler = Callable[["App", dict[str, str]], Response]
ROUTES: Registry[Handler] = Registry("route")
PAGES = {"/": "index.html", "/submission": "submission.html", "/episode": "episode.html"}


def route(path: str) -> Callable[[Handler], Handler]:
    return ROUTES.register(path)


def _json(obj: Any, status: int = 200) -> Response:
    def clean(x: Any) -> Any:  # NaN is not JSON: pandas gives NaN for missing cells
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return status, "application/json", json.dumps(clean(obj)).encode()


def _error(status: int, msg: str) -> Response:
    return _json({"error": msg}, status)


class App:
    def __init__(self, db: str | Path | None = None, runs_dir: str | Path = "runs/baselines"):
        self.store = Store(db)
        self.runs_dir = Path(runs_dir)

    def handle(self, raw_path: str) -> Response:
        u = urlparse(raw_path)
        params = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path in PAGES:
            return 200, "text/html; charset=utf-8", (STATIC / PAGES[u.path]).read_bytes()
        if u.path.startswith("/static/"):
            f = (STATIC / u.path[len("/static/"):]).resolve()
            if STATIC.resolve() not in f.parents or not f.is_file():
                return _error(404, "no such file")
            return 200, mimetypes.guess_type(f.name)[0] or "application/octet-stream", f.read_bytes()
        fn = ROUTES.find(u.path)
        if fn is None:
            return _error(404, f"no page {u.path}")
        try:
            return fn(self, params)
        except (KeyError, ValueError) as e:
            return _error(400, f"bad request: {e}")


def _sid(params: dict[str, str]) -> int:
    raw = params.get("id", "")
    if not re.fullmatch(r"[0-9]{1,18}", raw):
        raise ValueError("give ?id=<submission number>")
    return int(raw)


_NAMES = ("agent", "agent_spec", "spec", "label", "board_label", "flags")


def _safe_names(row: dict[str, Any]) -> dict[str, Any]:
    return {k: safe_text(v) if k in _NAMES and isinstance(v, str) else v for k, v in row.items()}


def _deep_safe(obj: Any) -> Any:
    """Every string of a submitter's metadata, neutralised (long values kept whole)."""
    if isinstance(obj, str):
        return safe_text(obj, limit=10_000)
    if isinstance(obj, dict):
        return {safe_text(str(k)): _deep_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deep_safe(v) for v in obj]
    return obj


_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def csp(body: bytes | None = None) -> str:
    """The Content-Security-Policy of a response: inline scripts of ``body`` are allowed by their hash."""
    hashes = " ".join("'sha256-" + base64.b64encode(hashlib.sha256(m).digest()).decode() + "'"
                      for m in _SCRIPT.findall(body or b""))
    return (f"default-src 'none'; script-src 'self' {hashes}".rstrip()
            + "; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


@route("/api/ranking")
def api_ranking(app: App, params: dict[str, str]) -> Response:
    from aem_gym.leaderboard import ranking

    df = ranking.ranking(app.store, ranking.Filters(board=params.get("board"), agent=params.get("agent")))
    boards: dict[str, Any] = {}
    for board, t in df.groupby("board", sort=True):
        env_cols = [c for c in t.columns if "/" in c and c != "board" and t[c].notna().any()]
        rows = [_safe_names(r) for r in t.drop(columns=["board", "board_label"]).to_dict(orient="records")]
        for r in rows:
            r["rank"] = None if r["rank"] is None or r["rank"] != r["rank"] else int(r["rank"])
        boards[board] = {"label": safe_text(t["board_label"].iloc[0]), "envs": env_cols, "rows": rows}
    return _json({"boards": boards, "db": app.store.path.name})


@route("/api/submission")
def api_submission(app: App, params: dict[str, str]) -> Response:
    sid = _sid(params)
    sub = app.store.submission(sid)
    if sub is None:
        return _error(404, f"no submission #{sid}")
    sub = _safe_names(sub)
    sub["metadata"] = _deep_safe(sub["metadata"])
    sub["flags"] = [safe_text(f) for f in sub["flags"] or []]
    envs = app.store.query("SELECT * FROM env_results WHERE submission_id=?", (sid,))
    for e in envs:
        e["pass_at_k"] = json.loads(e["pass_at_k"])
    types = app.store.query("SELECT env_id, task_type, episodes, success_rate FROM task_type_results "
                            "WHERE submission_id=?", (sid,))
    return _json({"submission": sub, "envs": envs, "task_types": types, "episodes": app.store.episodes(sid)})


@route("/api/episode")
def api_episode(app: App, params: dict[str, str]) -> Response:
    sid = _sid(params)
    ep = app.store.trajectory(sid, params.get("e", ""))
    if ep is None:
        return _error(404, f"no episode {params.get('e')!r} in submission #{sid}")
    return _json(ep)


@route("/plot/task_types.png")
def plot_task_types(app: App, params: dict[str, str]) -> Response:
    from aem_gym.leaderboard.plots import task_type_png

    sid = _sid(params)
    rows = app.store.query("SELECT env_id, task_type, success_rate FROM task_type_results "
                           "WHERE submission_id=?",
                           (sid,))
    if not rows:
        return _error(404, f"no submission #{sid}")
    return 200, "image/png", task_type_png(rows, title=f"submission #{sid}")


@route("/plot/ranking.png")
def plot_ranking(app: App, params: dict[str, str]) -> Response:
    from aem_gym.leaderboard.plots import ranking_png

    board = params.get("board", "")
    if not re.fullmatch(r"[0-9a-f]{8,64}", board):
        raise ValueError("give ?board=<board id> (hex)")
    rows = app.store.query("SELECT s.id, s.agent, e.env_id, e.success_rate, e.stderr FROM env_results e JOIN "
                           "submissions s ON s.id = e.submission_id WHERE s.board LIKE ? "
                           "ORDER BY s.id, e.env_id",
                           (board + "%",))
    if not rows:
        return _error(404, f"no board {board}")
    for r in rows:
        r["agent"] = f"#{r['id']} {safe_text(r['agent'], 40)}"
    return 200, "image/png", ranking_png(rows, title=f"board {board[:8]}")


@route("/plot/training.png")
def plot_training(app: App, params: dict[str, str]) -> Response:
    from aem_gym.leaderboard.plots import training_png

    png = training_png(app.runs_dir)
    if png is None:
        return _error(404, f"no baseline training runs under {app.runs_dir}")
    return 200, "image/png", png


@route("/api/training")
def api_training(app: App, params: dict[str, str]) -> Response:
    from aem_gym.leaderboard.plots import training_runs

    return _json({"runs": sorted(training_runs(app.runs_dir))})


class _Handler(BaseHTTPRequestHandler):
    app: App

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        try:
            status, ctype, body = self.app.handle(self.path)
        except Exception as e:  # noqa: BLE001 - a page error must not kill the server thread silently
            status, ctype, body = _error(500, f"{type(e).__name__}: {e}")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Security-Policy", csp(body if ctype.startswith("text/html") else None))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per error only
        if args and str(args[1] if len(args) > 1 else "").startswith(("4", "5")):
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


def make_server(db: str | Path | None = None, host: str = "127.0.0.1", port: int = 8765,
                runs_dir: str | Path = "runs/baselines") -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (port 0 picks a free one: ``server.server_address[1]``)."""
    handler = type("Handler", (_Handler,), {"app": App(db, runs_dir)})
    srv = ThreadingHTTPServer((host, port), handler)
    srv.daemon_threads = True
    return srv


def serve(db: str | Path | None = None, host: str = "127.0.0.1", port: int = 8765,
          runs_dir: str | Path = "runs/baselines") -> None:
    srv = make_server(db, host, port, runs_dir)
    h, p = srv.server_address[:2]
    print(f"leaderboard at http://{h}:{p}/  "
          f"(database {srv.RequestHandlerClass.app.store.path}; Ctrl-C stops)")
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
