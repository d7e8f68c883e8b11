"""The WebShop site over HTTP (``aem serve webshop``): the text env's page machine as HTML pages.

URLs (``SESSION`` is a task id such as ``webshop-00042``, or ``fixed_<i>`` for the i-th goal, upstream's
ReAct convention)::

    /                                index: a few test tasks and a box to open any task id
    /SESSION                         the search page for that task's instruction
    /SESSION/search?q=...            runs search[q] and redirects to the results
    /SESSION/page?page=...&q=...     any page; the whole state is in the query (State.to_query), so the
                                     back button, reloads and bookmarks behave
    /SESSION/api/purchases           JSON list of the purchases made in this session, with their scores

Every link on a page is the URL of the state that ``click[<its text>]`` leads to in the text env, so a
browser agent and a text agent taking the same clicks reach the same purchase and the same score. The
server keeps no per-visitor state besides the purchase log. Stdlib ``http.server`` only: no web framework.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from aem_envs.error import UnknownTaskError
from aem_envs.webshop.engine import State
from aem_envs.webshop.env import WebShopEnv
from aem_envs.webshop.html import render_page
from aem_envs.webshop.reward import score


@dataclass
class Response:
    status: int
    body: str
    content_type: str = "text/html; charset=utf-8"
    location: str | None = None


class WebShopSite:
    """Request handling without sockets (``handle(path_with_query)``), so it is testable directly."""

    def __init__(self, split: str = "test", **env_kwargs: Any):
        self.env = WebShopEnv(split=split, **env_kwargs)  # holds the catalog, tasks and engine
        self.engine = self.env.engine
        self.all_ids = [i for s in self.env.tasks.splits() for i in self.env.tasks.ids(s)]
        self.purchases: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    # -- routing ----------------------------------------------------------------------------------------
    def handle(self, target: str) -> Response:
        parts = urlsplit(target)
        segs = [s for s in parts.path.split("/") if s]
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if not segs:
            return self.index()
        try:
            session, goal = self._goal(segs[0])
        except UnknownTaskError as e:
            return Response(HTTPStatus.NOT_FOUND, self._message(str(e)))
        rest = segs[1:]
        if not rest:
            return self.page(session, goal, State())
        if rest == ["search"]:
            out = self.engine.step(State(), f"search[{query.get('q', '')}]")
            if not out.valid:
                return self.page(session, goal, State(), notice="Type some keywords to search.")
            return Response(HTTPStatus.SEE_OTHER, "", location=self.url(session, out.state))
        if rest == ["page"]:
            try:
                state = State.from_query(query)
                self._validate(state)
            except (ValueError, KeyError) as e:
                return Response(HTTPStatus.BAD_REQUEST, self._message(f"Bad page address: {e}"))
            return self.page(session, goal, state)
        if rest == ["api", "purchases"]:
            with self._lock:
                rows = list(self.purchases.get(session, []))
            return Response(HTTPStatus.OK, json.dumps(rows), "application/json")
        return Response(HTTPStatus.NOT_FOUND, self._message("No such page."))

    def _goal(self, session: str) -> tuple[str, Mapping[str, Any]]:
        if session.startswith("fixed_") and session[6:].isdigit():
            i = int(session[6:])
            if i >= len(self.all_ids):
                raise UnknownTaskError(f"there are only {len(self.all_ids)} goals")
            session = self.all_ids[i]
        return session, self.env.tasks.get(session)

    def _validate(self, state: State) -> None:
        if state.page in ("item", "sub", "done") and state.asin not in self.engine.catalog.by_asin:
            raise ValueError(f"unknown product {state.asin!r}")
        if state.page in ("results", "item", "sub") and not state.keywords:
            raise ValueError("missing search keywords")
        if state.page == "sub" and state.sub is None:
            raise ValueError("missing sub-page")

    # -- pages ------------------------------------------------------------------------------------------
    @staticmethod
    def url(session: str, state: State) -> str:
        if state.page == "search":
            return f"/{quote(session)}"
        return f"/{quote(session)}/page?{urlencode(state.to_query())}"

    def page(self, session: str, goal: Mapping[str, Any], state: State, notice: str = "") -> Response:
        reward = None
        if state.page == "done":
            reward = self._buy(session, goal, state)
        els = self.engine.view(state, goal["instruction_text"], reward)

        def link(el: tuple[str, str, Any]) -> str | None:
            out = self.engine.step(state, f"click[{el[1].lower()}]")
            return self.url(session, out.state) if out.valid else None

        html = render_page(els, link, search_action=f"/{quote(session)}/search", notice=notice,
                           title=f"WebShop · {session}")
        return Response(HTTPStatus.OK, html)

    def _buy(self, session: str, goal: Mapping[str, Any], state: State) -> float:
        product = self.engine.catalog.by_asin[state.asin]
        s = score(product, product["price"], state.selected, goal)
        row = {"asin": state.asin, "options": state.selected, "reward": s.reward, "won": s.reward == 1.0}
        with self._lock:
            log = self.purchases.setdefault(session, [])
            if not log or log[-1] != row:  # a reload of the done page is not a second purchase
                log.append(row)
        return s.reward

    def index(self) -> Response:
        ids = self.env.tasks.ids(self.env.split)[:20]
        items = "".join(f'<li><a href="/{quote(i)}">{i}</a></li>' for i in ids)
        body = ('<h1 class="logo">WebShop</h1><p>Pick a task, or open <code>/&lt;task id&gt;</code> or '
                f"<code>/fixed_&lt;i&gt;</code>.</p><ul>{items}</ul>")
        page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>WebShop</title></head>"
                f"<body>{body}</body></html>")
        return Response(HTTPStatus.OK, page)

    @staticmethod
    def _message(text: str) -> str:
        from html import escape

        return (f"<!DOCTYPE html><html><body><h1>WebShop</h1><p>{escape(text)}</p>"
                "<a href='/'>Home</a></body></html>")


def make_server(site: WebShopSite, host: str = "127.0.0.1", port: int = 3000) -> ThreadingHTTPServer:
    """A threaded HTTP server for ``site`` (``port=0`` picks a free one: ``server.server_address``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            try:
                r = site.handle(self.path)
            except Exception as e:  # a bug must give a 500 page, not a dropped connection
                r = Response(HTTPStatus.INTERNAL_SERVER_ERROR, site._message(f"{type(e).__name__}: {e}"))
            data = r.body.encode()
            self.send_response(r.status)
            self.send_header("Content-Type", r.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            if r.location:
                self.send_header("Location", r.location)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet by default; the CLI turns it on
            if getattr(self.server, "verbose", False):
                super().log_message(fmt, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
