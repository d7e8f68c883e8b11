"""The web page: API routes in-process, a real HTTP server, and the pages in headless Chromium."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request
from pathlib import Path

import pytest

from aem_gym.leaderboard.store import Store
from aem_gym.leaderboard.submit import submit
from aem_gym.leaderboard.web import App, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture
def filled(runs, db) -> Path:
    for name in ("oracle", "random01"):
        submit(runs[name], db=db)
    return db


@pytest.fixture
def server(filled, tmp_path):
    runs_dir = tmp_path / "baselines"
    (runs_dir / "toy-grpo-seed0").mkdir(parents=True)
    # The columns baselines' trainer writes (eval rows carry success, train rows carry the entropy).
    (runs_dir / "toy-grpo-seed0" / "metrics.csv").write_text(
        "kind,step,eval/success,policy_entropy\neval,0,0.1,\ntrain,1,,2.0\neval,2,0.3,\ntrain,2,,1.5\n")
    srv = make_server(filled, port=0, runs_dir=runs_dir)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def test_api_routes(filled):
    app = App(filled, runs_dir="/nonexistent")
    status, ctype, body = app.handle("/api/ranking")
    (board,) = json.loads(body)["boards"].values()
    assert board["label"].startswith("TreasureHunt-v0:test · 10 tasks × 2 seeds")
    assert status == 200 and [r["agent"] for r in board["rows"]] == ["oracle", "random"]
    assert [r["reproduction"] for r in board["rows"]] == ["reproduced", "reproduced"]
    status, _, body = app.handle("/api/submission?id=2")
    sub = json.loads(body)
    assert sub["submission"]["agent"] == "random" and len(sub["episodes"]) == 20
    assert app.handle("/api/submission?id=99")[0] == 404
    assert app.handle("/api/submission?id=abc")[0] == 400
    assert app.handle("/api/episode?id=1&e=nope")[0] == 404
    assert app.handle("/static/../store.py")[0] == 404
    assert app.handle("/plot/training.png")[0] == 404  # no runs dir: a clear 404, not a crash
    status, ctype, png = app.handle("/plot/task_types.png?id=1")
    assert status == 200 and ctype == "image/png" and png.startswith(b"\x89PNG")


def test_http_server_serves_pages_and_plots(server):
    status, ctype, body = _get(server + "/")
    assert status == 200 and b"aem-gym leaderboard" in body and ctype.startswith("text/html")
    status, ctype, body = _get(server + "/plot/training.png")
    assert status == 200 and body.startswith(b"\x89PNG")
    assert _get(server + "/nope")[0] == 404


def _chromium_missing() -> str | None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return "Debian chromium is not installed (scripts/setup_system.sh installs it as root)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e .[leaderboard])"
    return None


@pytest.mark.skipif(_chromium_missing() is not None, reason=str(_chromium_missing()))
def test_pages_in_headless_chromium(server, filled, runs):
    from playwright.sync_api import sync_playwright

    store = Store(filled)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            # ranking table == database
            page.goto(server + "/")
            page.wait_for_selector("table.ranking tbody tr")
            shown = page.eval_on_selector_all("table.ranking tbody tr", """rows => rows.map(r => ({
                id: +r.dataset.id, agent: r.cells[2].textContent,
                success: +r.querySelector('td.success').dataset.v,
                env: +r.querySelector('td.env').dataset.v}))""")
            subs = {s["id"]: s for s in store.submissions()}
            envs = {e["submission_id"]: e["success_rate"] for e in store.env_results()}
            assert [r["id"] for r in shown] == sorted(subs, key=lambda i: -subs[i]["success_rate"])
            for r in shown:
                assert r["agent"] == subs[r["id"]]["agent"]
                assert r["success"] == pytest.approx(subs[r["id"]]["success_rate"])
                assert r["env"] == pytest.approx(envs[r["id"]])
            assert page.locator("#training img").count() == 1
            assert page.locator("td.repro").all_text_contents() == ["✓ reproduced"] * len(shown)
            plot = page.locator("img.plot").first
            plot.wait_for()
            for _ in range(100):  # the PNG is drawn by the server: wait until it has loaded
                if plot.evaluate("img => img.complete && img.naturalWidth") > 0:
                    break
                page.wait_for_timeout(100)
            assert plot.evaluate("img => img.naturalWidth") > 0
            # submission details -> an episode -> its turns == the JSONL line
            page.click("table.ranking tbody tr[data-id='2'] a")
            page.wait_for_selector("#episodes tbody tr")
            assert page.locator("#episodes tbody tr").count() == 20
            path = runs["random01"] / "trajectories" / "example__TreasureHunt-v0.jsonl"
            line = path.read_text().splitlines()[3]
            traj = json.loads(line)
            page.click(f"#episodes tbody tr[data-episode='{traj['episode_id']}'] a")
            page.wait_for_selector("#turns .turn")
            turns = page.eval_on_selector_all("#turns .turn", """ts => ts.map(t => ({
                obs: t.querySelector('pre.observation').textContent,
                action: t.querySelector('code.action').textContent,
                reward: +t.querySelector('.reward').dataset.v}))""")
            assert turns == [{"obs": t["observation"], "action": t["action"],
                              "reward": t["reward"]} for t in traj["turns"]]
            assert page.text_content("#final-observation") == traj["final_observation"]
            assert "AEM α" in page.text_content("#turns")
            assert errors == []
        finally:
            browser.close()


def test_training_curves_read_the_columns_the_trainer_writes(tmp_path):
    from aem_gym.baselines.trainer import Trainer  # noqa: F401  (the writer of these columns must exist)
    from aem_gym.leaderboard.plots import (
        ENTROPY_COLUMNS,
        SUCCESS_COLUMNS,
        _read_metrics,
        _series,
        training_png,
    )

    run = tmp_path / "cpu-tiny-household-grpo-seed0"
    run.mkdir()
    (run / "metrics.csv").write_text(
        "kind,step,eval/success,train/success,policy_entropy\n"
        "eval,0,0.1,,\ntrain,1,,0.2,0.9\neval,5,0.4,,\ntrain,5,,0.5,0.7\n")
    rows = _read_metrics(run / "metrics.csv")
    assert _series(rows, SUCCESS_COLUMNS) == ("eval/success", [0.0, 5.0], [0.1, 0.4])
    assert _series(rows, ENTROPY_COLUMNS) == ("policy_entropy", [1.0, 5.0], [0.9, 0.7])
    assert training_png(tmp_path).startswith(b"\x89PNG")
