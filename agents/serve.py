"""Serve any ``Policy`` as an OpenAI-compatible endpoint (``POST /v1/chat/completions``,
``POST /v1/completions``, ``GET /v1/models``), checked with the official ``openai`` client.

    python -m aem_gym.agents.serve --agent hf:runs/tiny --port 8000     # then: openai:tiny@http://127.0.0.1:8000/v1

``stream=True`` answers with server-sent events (``data: {chunk}`` lines, then ``data: [DONE]``): the
reply is generated whole (the policy's batch call), then sent as one chunk per token. ``logprobs`` carry
token text, ``top_logprobs`` alternatives (hf policies) and the id as ``token_id``. Formats live in
``aem_gym.agents.serve_api``.

Concurrent HTTP requests are micro-batched: a worker thread collects what arrives within ``max_wait_s``
(up to ``max_batch``) and makes one ``policy.generate`` call, so many clients share one forward pass.
Besides the standard fields it implements vLLM's ``return_token_ids`` (``prompt_token_ids``,
``choices[0].token_ids``), ``top_k`` and ``include_stop_str_in_output``, and an ``return_entropies``
extension (``choices[0].entropies``), so ``OpenAIPolicy`` gets everything an in-process ``HFPolicy`` gives.
Bad requests get an OpenAI-style JSON error with status 400, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import queue
import threading
import time
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aem_gym.agents.policy import Policy
from aem_gym.agents.serve_api import (
    BadRequest,
    chat_chunks,
    chat_response,
    completion_chunks,
    completion_response,
    parse_chat_request,
    parse_completion_request,
)
from aem_gym.agents.types import GenerationRequest

_ROUTES = {"/v1/chat/completions": (parse_chat_request, chat_response, chat_chunks),
           "/v1/completions": (parse_completion_request, completion_response, completion_chunks)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a rollout connects with many clients at once (the default backlog is 5)


class PolicyServer:
    """``PolicyServer(policy, model_name).start()`` serves on ``host:port`` (port 0 = any free port) from a
    background thread; ``url`` is the ``/v1`` base; ``stop()`` shuts it down. Also a context manager."""

    def __init__(self, policy: Policy, model_name: str = "policy", host: str = "127.0.0.1", port: int = 0,
                 max_batch: int = 64, max_wait_s: float = 0.01):
        self.policy, self.model_name = policy, model_name
        self.tokenizer = getattr(policy, "tokenizer", None)  # token text for logprobs and stream deltas
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self._queue: queue.Queue[tuple[GenerationRequest, Future] | None] = queue.Queue()
        self.batches: list[int] = []  # sizes of the generate calls made, for tests and logs
        self.httpd = _Server((host, port), self._handler())
        self._threads = [threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                          name="aem-serve-http"),
                         threading.Thread(target=self._batcher, daemon=True, name="aem-serve-batch")]

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> PolicyServer:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._queue.put(None)

    def __enter__(self) -> PolicyServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def submit(self, req: GenerationRequest) -> Future:
        fut: Future = Future()
        self._queue.put((req, fut))
        return fut

    def _batcher(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            self.batches.append(len(batch))
            try:
                gens = self.policy.generate([r for r, _ in batch])
                for (_, fut), g in zip(batch, gens, strict=True):
                    fut.set_result(g)
            except Exception as e:  # the policy failed: every waiting client gets a 500
                for _, fut in batch:
                    fut.set_exception(e)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:  # quiet: tests and rollouts make many calls
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
                self._send(status, {"error": {"message": message, "type": kind, "code": status}})

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, {"object": "list",
                                     "data": [{"id": server.model_name, "object": "model"}]})
                else:
                    self._error(404, f"no route {self.path}", "not_found")

            def _stream(self, chunks: list[dict[str, Any]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")  # the end of the body is the end of the stream
                self.end_headers()
                for c in chunks:
                    self.wfile.write(b"data: " + json.dumps(c).encode() + b"\n\n")
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def do_POST(self) -> None:
                route = _ROUTES.get(self.path.rstrip("/"))
                if route is None:
                    self._error(404, f"no route {self.path}", "not_found")
                    return
                parse, respond, stream = route
                try:
                    n = int(self.headers.get("Content-Length") or 0)
                    req, opts = parse(json.loads(self.rfile.read(n) or b"null"))
                except (BadRequest, json.JSONDecodeError, ValueError) as e:
                    self._error(400, str(e))
                    return
                try:
                    g = server.submit(req).result()
                except Exception as e:
                    self._error(500, f"policy failed: {type(e).__name__}: {e}", "server_error")
                    return
                if opts["stream"]:
                    self._stream(stream(g, opts, server.model_name, server.tokenizer))
                else:
                    self._send(200, respond(g, opts, server.model_name, server.tokenizer))

        return Handler


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Serve an agent spec as an OpenAI-compatible endpoint.")
    ap.add_argument("--agent", required=True, help="a policy spec, e.g. hf:runs/tiny")
    ap.add_argument("--model-name", default=None, help="the model id clients send (default: the spec)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    args = ap.parse_args(argv)
    from aem_gym.agents.policy import make_policy

    server = PolicyServer(make_policy(args.agent), args.model_name or args.agent, args.host,
                          args.port).start()
    print(f"serving {args.agent} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
