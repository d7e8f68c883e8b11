"""The web site: routing without sockets, HTTP on loopback, and a purchase driven in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import threading
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from aem_envs.webshop.env import WebShopEnv
from aem_envs.webshop.server import WebShopSite, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


class Links(HTMLParser):
    """text (lowercased) -> href of every link on a page."""

    def __init__(self):
        super().__init__()
        self.links, self._href, self._text = {}, None, []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links["".join(self._text).strip().lower()] = self._href
            self._href = None


@pytest.fixture(scope="module")
def site():
    return WebShopSite(split="test")


def episode(env, instance_id, drop_last_option=False):
    """The oracle's actions for a goal (optionally without its last option click) and the text env's
    reward."""
    env.reset(options={"instance_id": instance_id})
    actions, term = [], False
    while not term:
        actions.append(env.oracle_action())
        *_, reward, term, _, _ = env.step(actions[-1])
    options = {f"click[{v}]" for v in env.goal["goal_options"]}
    if drop_last_option and len(actions) > 2 and actions[-2] in options:
        actions = actions[:-2] + actions[-1:]
        env.reset(options={"instance_id": instance_id})
        for a in actions:
            *_, reward, term, _, _ = env.step(a)
    return actions, reward


def follow(get, session, actions):
    """Play text actions on the site by following links; returns the done page's reward."""
    status, loc, body = get(f"/{session}/search?q={urllib.parse.quote(actions[0][7:-1])}")
    assert status == 303
    status, _, body = get(loc)
    for a in actions[1:]:
        parser = Links()
        parser.feed(body)
        href = parser.links[a[6:-1]]
        status, _, body = get(href)
        assert status == 200
    return float(re.search(r'id="reward"[^>]*>([^<]+)<', body).group(1))


def test_site_follows_the_text_env(site):
    env = WebShopEnv(split="test")

    def get(target):
        r = site.handle(target)
        return r.status, r.location, r.body

    for k, iid in enumerate(site.env.tasks.ids("test")[:6]):
        actions, reward = episode(env, iid, drop_last_option=k % 2 == 1)
        assert follow(get, iid, actions) == pytest.approx(reward)
        rows = json.loads(site.handle(f"/{iid}/api/purchases").body)
        assert rows[-1]["reward"] == pytest.approx(reward)
    assert any(r < 1 for r in [episode(env, i, True)[1] for i in site.env.tasks.ids("test")[:6]])


def test_bad_addresses_are_clear_errors(site):
    sid = site.all_ids[0]
    assert site.handle("/no-such-task").status == 404
    assert site.handle(f"/{sid}/page?page=item&q=x&asin=NOPE").status == 400
    assert site.handle(f"/{sid}/page?page=warp").status == 400
    assert site.handle(f"/{sid}/page?page=results&q=a&o=%5B1%5D").status == 400
    assert site.handle(f"/{sid}/elsewhere").status == 404
    r = site.handle(f"/{sid}/search?q=")
    assert r.status == 200 and "Type some keywords" in r.body
    assert site.handle("/fixed_0").body == site.handle(f"/{site.all_ids[0]}").body
    assert "webshop-" in site.handle("/").body


@pytest.fixture(scope="module")
def server(site):
    srv = make_server(site, port=0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_over_http(server):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def get(target):
        try:
            with opener.open(server + target, timeout=10) as r:
                return r.status, r.headers.get("Location"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Location"), e.read().decode()

    env = WebShopEnv(split="test")
    iid = env.tasks.ids("test")[10]
    actions, reward = episode(env, iid)
    assert follow(get, iid, actions) == reward == 1.0


def test_purchase_in_headless_chromium_matches_text_env(server):
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (Debian package chromium; `make system` installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (extra [webshop])")
    env = WebShopEnv(split="test")
    cases = [episode(env, iid, drop_last_option=k == 1) + (iid,)
             for k, iid in enumerate(env.tasks.ids("test")[20:22])]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            for actions, reward, iid in cases:
                page.goto(f"{server}/{iid}")
                assert env.tasks.get(iid)["instruction_text"] in page.inner_text("#instruction-text")
                page.fill("#search_input", actions[0][len("search["):-1])
                page.get_by_role("button", name="Search").click()
                page.wait_for_url(re.compile(r".*page=results.*"))
                for a in actions[1:]:
                    text = a[len("click["):-1]
                    label = re.compile(rf"^\s*{re.escape(text)}\s*$", re.I)
                    page.locator("a").filter(has_text=label).first.click()
                    page.wait_for_load_state()
                assert "page=done" in urlsplit(page.url).query
                assert float(page.inner_text("#reward")) == pytest.approx(reward)
        finally:
            browser.close()
    assert cases[0][1] == 1.0 and cases[1][1] < 1.0


def test_aem_serve_webshop_cli():
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "aem_gym.cli.main", "serve", "webshop", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, (line, proc.stderr.read() if proc.poll() is not None else "")
        with urllib.request.urlopen(url.group(0) + "fixed_0", timeout=10) as r:
            assert r.status == 200 and 'id="search_input"' in r.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
