"""The page and the terminal table show only safe text and the verification marks; `verify` sets them."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from aem_gym.agents.evaluate import EvalConfig
from aem_gym.cli.main import main
from aem_gym.leaderboard import ranking
from aem_gym.leaderboard.reproduce import Reproduction
from aem_gym.leaderboard.runner import evaluate
from aem_gym.leaderboard.store import Store
from aem_gym.leaderboard.submit import record_of, submit
from aem_gym.leaderboard.validate import validate
from aem_gym.leaderboard.web import App, make_server

from .tamper_kit import rehash, relabel_best_of, set_agent

EVIL = "gpt\u202egnp.exe\x1b[31m\u2066x"


@pytest.fixture
def evil_db(copy, db):
    run = copy("oracle")
    set_agent(run, EVIL, "oracle")
    rehash(run)
    submit(run, db=db, label="label\u202eLTR")
    return db


def test_names_are_neutralised_on_page_and_terminal(evil_db):
    app = App(evil_db, runs_dir="/nonexistent")
    body = app.handle("/api/ranking")[2].decode()
    (board,) = json.loads(body)["boards"].values()
    agent = board["rows"][0]["agent"]
    assert agent == "gpt\\u202egnp.exe\\u001b[31m\\u2066x" and "\u202e" not in json.loads(body).__repr__()
    sub = json.loads(app.handle("/api/submission?id=1")[2])["submission"]
    assert "\u202e" not in sub["agent"] + sub["label"] + sub["metadata"]["agent"]["name"]
    shown = ranking.render(Store(evil_db))
    assert "\u202e" not in shown and "\x1b" not in shown and "\\u202e" in shown


@pytest.mark.parametrize(
    "url",
    [
        "/api/submission?id=abc",
        "/api/submission?id=-1",
        "/api/submission?id=1e3",
        "/api/submission?id=" + "9" * 40,
        "/api/episode?id=99999999999999999999999&e=x",
        "/plot/task_types.png?id=%00",
        "/plot/ranking.png?board=../x",
        "/api/submission",
    ],
)
def test_bad_ids_are_400(evil_db, url):
    assert App(evil_db, runs_dir="/nonexistent").handle(url)[0] == 400


def test_headers_and_ranking_plot(evil_db):
    srv = make_server(evil_db, port=0, runs_dir="/nonexistent")
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        for path in ("/", "/api/ranking", "/static/common.js"):
            with urllib.request.urlopen(base + path, timeout=10) as r:
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                csp = r.headers["Content-Security-Policy"]
                assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
                assert "unsafe-inline" not in csp
        with urllib.request.urlopen(base + "/", timeout=10) as r:
            assert "'sha256-" in r.headers["Content-Security-Policy"]  # the page's own inline script, by hash
        board = next(iter(json.loads(urllib.request.urlopen(base + "/api/ranking").read())["boards"]))
        with urllib.request.urlopen(f"{base}/plot/ranking.png?board={board}", timeout=30) as r:
            assert r.headers["Content-Type"] == "image/png" and r.read().startswith(b"\x89PNG")
    finally:
        srv.shutdown()
        srv.server_close()


def test_show_is_a_table_without_paths(runs, db, capsys):
    submit(runs["oracle"], db=db)
    assert main(["leaderboard", "show", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "┃" in out or "│" in out  # a rich table
    assert "reproduced" in out and str(db.parent) not in out and "/tmp" not in out


def test_verify_marks_rows(runs, copy, extra, db, capsys):
    acc = submit(runs["random01"], db=db)
    assert main(["leaderboard", "verify", str(acc.result.id), "--sample", "0", "--db", str(db)]) == 0
    assert "reproduced (20 episodes re-run)" in capsys.readouterr().out
    # a cherry-picked run of a local agent that got in unverified: verify marks it, the ranking drops it
    run = copy("random-s0")
    relabel_best_of([extra[f"random-s{k}"] for k in range(5)], run)
    sub = validate(run).submission
    sid = Store(db).submit(record_of(sub, None, Reproduction("self-reported"))).id
    assert main(["leaderboard", "verify", str(sid), "--sample", "0", "--db", str(db)]) == 1
    assert "not reproduced" in capsys.readouterr().out
    row = Store(db).submission(sid)
    assert (
        row["reproduction"] == "not reproduced"
        and "now plays" in row["reproduction_detail"]["first_difference"]
    )
    t = ranking.ranking(Store(db))
    assert t[t["id"] == sid]["rank"].isna().all()
    assert main(["leaderboard", "verify", "99", "--db", str(db)]) == 2


def test_openai_agent_needs_a_named_endpoint():
    from aem_gym.leaderboard.reproduce import runnable_spec

    assert runnable_spec("openai:gpt-x@http://their.host/v1")[0] is None
    assert (
        runnable_spec("openai:gpt-x@http://their.host/v1", "http://127.0.0.1:9/v1")[0]
        == "openai:gpt-x@http://127.0.0.1:9/v1"
    )
    assert runnable_spec("human")[0] is None and runnable_spec("oracle")[0] == "oracle"


def test_verify_reproduces_an_hf_agent(tiny_model_dir, tmp_path, db, capsys):
    out = evaluate(
        f"hf:{tiny_model_dir}",
        EvalConfig(seeds=[0], episodes=2, max_turns=3, max_new_tokens=8, progress=False),
        tmp_path / "hf",
        suite="example",
    )
    acc = submit(out, db=db)  # a model agent: stored as self-reported until someone re-runs it
    assert acc.reproduction.status == "self-reported" and "verify" in acc.reproduction.detail["reason"]
    assert main(["leaderboard", "verify", str(acc.result.id), "--sample", "0", "--db", str(db)]) == 0
    assert "reproduced (2 episodes re-run)" in capsys.readouterr().out
    assert Store(db).submission(acc.result.id)["reproduction"] == "reproduced"
