"""``OpenAIPolicy``: any OpenAI-compatible ``/v1/chat/completions`` endpoint (OpenAI, vLLM, SGLang, TGI,
``python -m aem_gym.agents.serve``), through the official ``openai`` client (the ``api`` extra).

Requests run concurrently (``concurrency`` threads) so a batching server sees the whole turn at once;
streaming is off. Each request has a timeout; transient failures (connection errors, timeouts, HTTP 408,
409, 429 and 5xx) are retried with exponential backoff (at least what a ``Retry-After`` header asks,
up to 60 s). After ``max_retries`` the request's generation
comes back with ``finish_reason="error"`` (``BackendError`` text in ``error``): the episode loop ends that
episode with status ``error`` (excluded from success, listed in the summary), never as the agent failing.

What is sent (docs/api-agents.md):

* ``max_completion_tokens`` (OpenAI's current name; reasoning models reject ``max_tokens``); a server that
  answers 400 naming it gets ``max_tokens`` instead, and keeps getting it;
* sampling settings as asked; a reasoning model that refuses ``temperature``/``top_p``/``stop`` (a 400
  naming it) gets the request without it, and the run's metadata lists it (``config["refused"]``);
* ``logprobs`` only where asked (default: self-hosted servers, where a trainer wants them; never to
  api.openai.com); a 400 that names ``logprobs``/``top_logprobs`` (reasoning models) is retried without
  them, and they stay off for the policy's lifetime. The same holds for the extensions below;
* ``tools`` and ``tool_choice="required"`` under the tools protocol (``aem_gym.agents.tools``); a server
  that refuses ``tool_choice`` gets none (it means ``auto``);
* ``extra_body`` (``aem eval --extra-body JSON``) merged last: it may set anything, e.g.
  ``{"reasoning_effort": "low"}`` or a provider's own fields.

What is kept: the text, native ``tool_calls``, a reasoning model's reasoning (``reasoning_content`` or
``reasoning`` on the message) in ``Generation.reasoning``, usage, and token-level fields where the server
gives them: ``logprobs`` (standard), ``response_ids``/``prompt_ids`` (vLLM's ``return_token_ids``:
``choices[0].token_ids``, ``prompt_token_ids``; a ``token_id`` field on each logprobs entry, as
``aem_gym.agents.serve`` sends; or tokens written ``token_id:N``), ``entropies`` (the
``return_entropies`` extension of ``aem_gym.agents.serve``; the public API's top-20 log-probs cannot give a
full-vocabulary entropy).
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aem_gym.agents.errors import BackendError
from aem_gym.agents.policy import register_policy
from aem_gym.agents.types import Generation, GenerationRequest, Usage

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
# Fields a server may refuse with a 400 naming them: dropped (or renamed) and the request retried once.
# Reasoning models refuse sampling settings too ("Unsupported value: 'temperature' does not support 0.2"):
# they then sample with their own; the run records what was dropped (``config["refused"]``).
_OPTIONAL = ("logprobs", "top_logprobs", "return_token_ids", "return_entropies", "top_k",
             "include_stop_str_in_output", "tool_choice", "seed", "temperature", "top_p", "stop")
_RENAME = {"max_completion_tokens": "max_tokens", "max_tokens": "max_completion_tokens"}
# ... when the 400 says the field is not accepted (not that its value is wrong, e.g. "too large").
_REFUSAL = ("unsupported", "not supported", "unrecognized", "unknown", "extra", "not permitted",
            "not allowed", "instead", "does not support")
# Standard keyword arguments of ``chat.completions.create``; the rest of a body goes as ``extra_body``.
_STANDARD = frozenset({"messages", "model", "max_completion_tokens", "max_tokens", "temperature", "top_p",
                       "stop", "seed", "logprobs", "top_logprobs", "tools", "tool_choice", "n",
                       "presence_penalty", "frequency_penalty", "reasoning_effort", "response_format"})


def _client_module() -> Any:
    try:
        import openai
    except ImportError:  # pragma: no cover - the api extra is part of `make`
        raise ImportError("the openai: agent needs the official client: pip install 'aem-gym[api]'") from None
    return openai


class OpenAIPolicy:
    """``model`` at ``base_url`` (ending in ``/v1``; default ``$OPENAI_BASE_URL``, then api.openai.com).
    ``api_key`` defaults to ``$OPENAI_API_KEY``. ``logprobs``/``token_ids``/``entropies``: None asks for
    them from self-hosted servers only. ``top_logprobs``: alternatives per token (0: none)."""

    supports_tools = True
    preferred_schedule = "independent"  # no per-turn barrier: a slow reply holds back only its episode

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 timeout_s: float = 600.0, max_retries: int = 3, backoff_s: float = 1.0,
                 concurrency: int = 64,
                 logprobs: bool | None = None, top_logprobs: int = 0, token_ids: bool | None = None,
                 entropies: bool | None = None, extra_body: dict[str, Any] | None = None):
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        if not re.match(r"^https?://", base_url):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if extra_body is not None and not isinstance(extra_body, dict):
            raise ValueError(f"extra_body must be a JSON object, got {type(extra_body).__name__}")
        self.model, self.base_url = model, base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        official = "api.openai.com" in base_url
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not key and official:
            raise ValueError("api.openai.com needs a key: set OPENAI_API_KEY")
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        self.logprobs = (not official) if logprobs is None else bool(logprobs)
        self.top_logprobs = int(top_logprobs)
        self.token_ids = (not official) if token_ids is None else token_ids
        self.entropies = (not official) if entropies is None else entropies
        self.extra_body = dict(extra_body or {})
        self.refused: set[str] = set()  # fields this server rejected (400): not sent again
        self.renamed: dict[str, str] = {}
        openai = _client_module()
        # Our own retry loop (below) so backoff and the refused-field fallback share one place.
        self.client = openai.OpenAI(base_url=self.base_url, api_key=key or "none", timeout=timeout_s,
                                    max_retries=0)
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="aem-openai")

    @property
    def config(self) -> dict[str, Any]:
        """What a run records about the backend, including the fields the server refused."""
        return {"model": self.model, "base_url": self.base_url, "timeout_s": self.timeout_s,
                "max_retries": self.max_retries, "logprobs": self.logprobs, "extra_body": self.extra_body,
                "refused": sorted(self.refused), "renamed": dict(self.renamed)}

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return list(self._pool.map(self._one, requests))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    # -- one request ----------------------------------------------------------------------------------
    def body(self, req: GenerationRequest) -> dict[str, Any]:
        """The JSON body sent for ``req`` (after the fields this server refused were dropped)."""
        s = req.sampling
        if s.constrain:
            raise ValueError("an OpenAI-compatible endpoint cannot apply sampling.constrain "
                             "(agents.constrained); use the hf backend for constrained decoding")
        body: dict[str, Any] = {"model": self.model, "messages": req.messages,
                                "max_completion_tokens": s.max_new_tokens, "temperature": s.temperature,
                                "top_p": s.top_p}
        if s.stop:
            body["stop"] = list(s.stop)
        if s.seed is not None:
            body["seed"] = int(s.seed) % (1 << 31)  # some servers reject seeds beyond int32
        if s.top_k:
            body["top_k"] = s.top_k  # vLLM/SGLang extension: sent only when set
        if s.include_stop_str_in_output:
            body["include_stop_str_in_output"] = True
        if self.logprobs:
            body["logprobs"] = True
            if self.top_logprobs:
                body["top_logprobs"] = self.top_logprobs
        if self.token_ids:
            body["return_token_ids"] = True
        if self.entropies:
            body["return_entropies"] = True
        if req.tools:
            body["tools"], body["tool_choice"] = req.tools, "required"
        body.update(self.extra_body)
        for old, new in self.renamed.items():
            if old in body:
                body[new] = body.pop(old)
        return {k: v for k, v in body.items() if k not in self.refused}

    def _one(self, req: GenerationRequest) -> Generation:
        try:
            return self.call(req)
        except BackendError as e:
            return Generation(text="", finish_reason="error", error=str(e))

    def call(self, req: GenerationRequest) -> Generation:
        """One request with retries; raises ``BackendError`` when the endpoint cannot answer."""
        openai = _client_module()
        last, attempt, adapted, wait = "", 0, 0, 0.0
        while True:
            body = self.body(req)
            try:
                return self.parse(self._create(body))
            except openai.BadRequestError as e:
                adapted += 1
                if adapted > len(_OPTIONAL) + len(_RENAME) or not self._adapt(body, str(e)):
                    raise BackendError(f"HTTP 400 from {self.url}: {_detail(e)}") from None
                continue  # the same request without (or with a renamed) field: not a retry
            except openai.APIStatusError as e:
                last = f"HTTP {e.status_code} from {self.url}: {_detail(e)}"
                if e.status_code not in _RETRY_STATUS:
                    raise BackendError(last) from None
                wait = _retry_after(e)
            except openai.APITimeoutError:
                last = f"{self.url} did not answer within {self.timeout_s:g} s"
            except openai.APIConnectionError as e:
                last = f"cannot reach {self.url}: {e.__cause__ or e}"
            except (ValueError, openai.APIError) as e:  # an answer the client could not read
                last = f"{self.url} answered with an unreadable response: {e}"
            if attempt >= self.max_retries:
                raise BackendError(f"{last} (after {attempt + 1} attempts)")
            time.sleep(max(self.backoff_s * (2 ** attempt), wait))
            attempt, wait = attempt + 1, 0.0

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        std = {k: v for k, v in body.items() if k in _STANDARD}
        extra = {k: v for k, v in body.items() if k not in _STANDARD}
        resp = self.client.chat.completions.create(**std, extra_body=extra or None, stream=False)
        return resp.to_dict() if hasattr(resp, "to_dict") else resp.model_dump()

    def _adapt(self, body: dict[str, Any], message: str) -> bool:
        """A 400 that names a field we chose to send: drop or rename it for this server. False: nothing
        to adapt (the request itself is bad)."""
        if not any(w in message.lower() for w in _REFUSAL):
            return False
        named = [f for f in body if f in _OPTIONAL and f not in self.extra_body and f in message]
        if named:
            self.refused.update(named)
            if "logprobs" in named:
                self.refused.add("top_logprobs")
            return True
        for old, new in _RENAME.items():
            if old in body and old in message:
                if old in self.renamed:  # another request found it out meanwhile: resend as renamed
                    return True
                if new not in self.renamed:
                    self.renamed[old] = new
                    return True
        return False

    @staticmethod
    def parse(resp: dict[str, Any]) -> Generation:
        """A chat-completion response (a dict) → a ``Generation``."""
        try:
            choice = resp["choices"][0]
            msg = choice["message"]
            text = msg.get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BackendError(f"unexpected response shape: {str(resp)[:300]}") from None
        finish = choice.get("finish_reason") or "stop"
        usage = resp.get("usage") or {}
        content = ((choice.get("logprobs") or {}).get("content")) or None
        logprobs = [float(t["logprob"]) for t in content] if content else None
        ids = choice.get("token_ids")
        if ids is None and content and all(isinstance(t.get("token_id"), int) for t in content):
            ids = [t["token_id"] for t in content]  # aem_gym.agents.serve's extension field
        elif ids is None and content and all(str(t.get("token", "")).startswith("token_id:")
                                             for t in content):
            ids = [int(str(t["token"]).split(":", 1)[1]) for t in content]
        calls = [{"id": c.get("id"), "type": "function",
                  "function": {"name": (c.get("function") or {}).get("name"),
                               "arguments": (c.get("function") or {}).get("arguments")}}
                 for c in msg.get("tool_calls") or []] or None
        reasoning = msg.get("reasoning_content") or msg.get("reasoning") or None
        return Generation(
            text=text, finish_reason="length" if finish == "length" else "stop",
            usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
            prompt_ids=resp.get("prompt_token_ids"), response_ids=ids, logprobs=logprobs,
            entropies=choice.get("entropies"), tool_calls=calls,
            reasoning=reasoning if isinstance(reasoning, str) else None)


def _retry_after(e: Any, cap_s: float = 60.0) -> float:
    """Seconds a 429/503 asks us to wait (``Retry-After``), at most ``cap_s``; 0 when it does not say."""
    try:
        return min(cap_s, max(0.0, float(e.response.headers.get("retry-after", 0))))
    except (AttributeError, TypeError, ValueError):
        return 0.0


def _detail(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
    return str(body if body is not None else e)[:500]


_SPEC = re.compile(r"^(?P<model>.+?)(?:@(?P<url>https?://\S+))?$")


@register_policy("openai")
def _make_openai(arg: str, **kw: Any) -> OpenAIPolicy:
    m = _SPEC.match(arg or "")
    if not m:
        raise ValueError("openai: needs a model, e.g. 'openai:gpt-4o-mini' or "
                         "'openai:qwen@http://localhost:8000/v1'")
    return OpenAIPolicy(m["model"], base_url=m["url"] or kw.pop("base_url", None), **kw)
