"""``OpenAIPolicy``: any OpenAI-compatible ``/v1/chat/completions`` endpoint (OpenAI, vLLM, SGLang, TGI,
``python -m aem_gym.agents.serve``).

Requests run concurrently (``concurrency`` threads) so a batching server sees the whole turn at once.
Transient failures (connection errors, HTTP 429 and 5xx) are retried with exponential backoff; after
``max_retries`` the generation comes back with ``finish_reason="error"`` and ``error`` set, so one bad call
ends one turn, not the run. No extra dependency: the stdlib HTTP client is enough.

Token-level fields, where the server provides them:

* ``logprobs``: from the standard ``choices[0].logprobs.content[*].logprob`` (``logprobs=True`` is sent);
* ``response_ids`` / ``prompt_ids``: vLLM's ``return_token_ids`` extension (``choices[0].token_ids``,
  ``prompt_token_ids``) or tokens written ``token_id:N`` (vLLM's ``return_tokens_as_token_ids``);
* ``entropies``: only from servers with the ``return_entropies`` extension (``aem_gym.agents.serve``); the public
  API exposes at most 20 top log-probs, which cannot give a full-vocabulary entropy, so it stays ``None``.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aem_gym.agents.policy import register_policy
from aem_gym.agents.types import Generation, GenerationRequest, Usage

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class EndpointError(RuntimeError):
    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class OpenAIPolicy:
    """``model`` at ``base_url`` (ending in ``/v1``; default ``$OPENAI_BASE_URL``). ``api_key`` defaults to
    ``$OPENAI_API_KEY`` (none sent if unset). ``extra_body`` is merged into every request body."""

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 timeout_s: float = 120.0, max_retries: int = 3, backoff_s: float = 0.5, concurrency: int = 16,
                 logprobs: bool = True, token_ids: bool | None = None, entropies: bool | None = None,
                 extra_body: dict[str, Any] | None = None):
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        if not re.match(r"^https?://", base_url):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.model, self.url = model, base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        # api.openai.com rejects unknown fields: ask for the extensions only elsewhere unless told.
        ext = "api.openai.com" not in base_url
        self.logprobs = logprobs
        self.token_ids = ext if token_ids is None else token_ids
        self.entropies = ext if entropies is None else entropies
        self.extra_body = dict(extra_body or {})
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="aem-openai")

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return list(self._pool.map(self._one, requests))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- one request ----------------------------------------------------------------------------------
    def body(self, req: GenerationRequest) -> dict[str, Any]:
        s = req.sampling
        if s.constrain:
            raise ValueError("an OpenAI-compatible endpoint cannot apply sampling.constrain (agents.constrained); "
                             "use the hf backend for constrained decoding")
        body: dict[str, Any] = {"model": self.model, "messages": req.messages, "max_tokens": s.max_new_tokens,
                                "temperature": s.temperature, "top_p": s.top_p}
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
        if self.token_ids:
            body["return_token_ids"] = True
        if self.entropies:
            body["return_entropies"] = True
        body.update(self.extra_body)
        return body

    def _one(self, req: GenerationRequest) -> Generation:
        data = json.dumps(self.body(req)).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                return self._parse(self._post(data, headers), req)
            except EndpointError as e:
                last = str(e)
                if not e.retryable:
                    break
            if attempt < self.max_retries:
                time.sleep(self.backoff_s * (2 ** attempt))
        return Generation(text="", finish_reason="error", error=last)

    def _post(self, data: bytes, headers: dict[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:500]
            raise EndpointError(f"HTTP {e.code} from {self.url}: {detail}", e.code in _RETRY_STATUS) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            raise EndpointError(f"cannot reach {self.url}: {e}", True) from None
        except json.JSONDecodeError as e:
            raise EndpointError(f"{self.url} answered with invalid JSON: {e}", True) from None

    @staticmethod
    def _parse(resp: dict[str, Any], req: GenerationRequest) -> Generation:
        try:
            choice = resp["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise EndpointError(f"unexpected response shape: {str(resp)[:300]}", False) from None
        finish = choice.get("finish_reason") or "stop"
        usage = resp.get("usage") or {}
        content = ((choice.get("logprobs") or {}).get("content")) or None
        logprobs = [float(t["logprob"]) for t in content] if content else None
        ids = choice.get("token_ids")
        if ids is None and content and all(str(t.get("token", "")).startswith("token_id:") for t in content):
            ids = [int(str(t["token"]).split(":", 1)[1]) for t in content]
        return Generation(
            text=text, finish_reason="length" if finish == "length" else "stop",
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
            prompt_ids=resp.get("prompt_token_ids"), response_ids=ids, logprobs=logprobs,
            entropies=choice.get("entropies"))


_SPEC = re.compile(r"^(?P<model>.+?)(?:@(?P<url>https?://\S+))?$")


@register_policy("openai")
def _make_openai(arg: str, **kw: Any) -> OpenAIPolicy:
    m = _SPEC.match(arg or "")
    if not m:
        raise ValueError("openai: needs a model, e.g. 'openai:gpt-4o-mini' or 'openai:qwen@http://localhost:8000/v1'")
    return OpenAIPolicy(m["model"], base_url=m["url"] or kw.pop("base_url", None), **kw)
