"""``aem serve NAME``: serve an env as a web site (for browser agents and people). ``aem serve webshop``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from aem_envs.registry import Registry
from aem_gym.cli.main import command

# name -> function(args) returning an object with serve_forever() / server_close() / server_address
SITES: Registry[Callable[[argparse.Namespace], Any]] = Registry("site")
site = SITES.register


@site("webshop")
def _webshop(args: argparse.Namespace) -> Any:
    from aem_envs.webshop.server import WebShopSite, make_server

    kwargs = {"data_dir": args.data_dir} if args.data_dir else {}
    server = make_server(WebShopSite(split=args.split, **kwargs), host=args.host, port=args.port)
    server.verbose = args.verbose  # type: ignore[attr-defined]
    return server


@command("serve", "serve an environment as a web site (webshop)")
def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", choices=sorted(SITES), help="what to serve")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--split", default="test", help="split whose tasks the index page lists")
    p.add_argument("--data-dir", default=None, help="webshop: upstream's data files instead of ours")
    p.add_argument("--verbose", action="store_true", help="log every request")


@configure.handler
def run(args: argparse.Namespace) -> int:
    server = SITES.get(args.name)(args)
    host, port = server.server_address[:2]
    print(f"serving {args.name} on http://{host}:{port}/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
