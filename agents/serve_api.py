"""The OpenAI wire format of ``aem_gym.agents.serve``: request bodies → ``GenerationRequest``, and a
``Generation`` → a response object or its server-sent-event chunks (chat and legacy completions).

Token text: each logprobs entry's ``token`` is the token's text (its ``bytes`` the UTF-8 bytes), with the
id as the extension field ``token_id``; streamed deltas are the reply's text cut at token boundaries, so
their concatenation is exactly the reply. ``tools`` are answered with the text fallback of
``aem_gym.agents.tools`` (the functions described in the system message, ``<tool_call>`` blocks read back
into ``tool_calls``).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aem_gym.agents.tools import TOOL_CALL_RE, decode_calls, fallback_instructions
from aem_gym.agents.types import Generation, GenerationRequest, Message, SamplingParams

MAX_TOP_LOGPROBS = 20  # OpenAI's limit
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "user"}


class BadRequest(ValueError):
    pass


def _text(m: dict[str, Any]) -> str:
    c = m.get("content")
    if isinstance(c, list):  # content parts: keep the text ones
        c = "".join(p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
    if c is None and m.get("tool_calls"):
        c = "".join(f"<tool_call>{json.dumps(t.get('function') or {})}</tool_call>" for t in m["tool_calls"])
    if not isinstance(c, str):
        raise BadRequest("each message needs string content (or text parts)")
    return c


def _messages(body: dict[str, Any]) -> list[Message]:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs or not all(
            isinstance(m, dict) and m.get("role") in _ROLES for m in msgs):
        raise BadRequest("'messages' must be a non-empty list of {role, content} objects, role one of "
                         f"{sorted(_ROLES)}")
    return [{"role": _ROLES[m["role"]], "content": _text(m)} for m in msgs]


def _with_tools(messages: list[Message], tools: Any) -> list[Message]:
    if not isinstance(tools, list) or not all(isinstance(t, dict) and isinstance(t.get("function"), dict)
                                              for t in tools):
        raise BadRequest("'tools' must be a list of {type: function, function: {...}} objects")
    schemas = [{"function": {"name": f.get("name"), "description": f.get("description", ""),
                             "parameters": f.get("parameters") or {"properties": {}}}}
               for f in (t["function"] for t in tools)]
    how = fallback_instructions(schemas)
    if messages[0]["role"] == "system":
        return [{"role": "system", "content": messages[0]["content"] + "\n\n" + how}, *messages[1:]]
    return [{"role": "system", "content": how}, *messages]


def _sampling(body: dict[str, Any], top: int) -> SamplingParams:
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    try:
        sp = SamplingParams(
            max_new_tokens=int(body.get("max_completion_tokens") or body.get("max_tokens") or 256),
            temperature=float(body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0),
            top_p=float(body.get("top_p", 1.0) if body.get("top_p") is not None else 1.0),
            top_k=max(0, int(body.get("top_k", 0) or 0)), stop=[str(s) for s in stop],
            seed=None if body.get("seed") is None else int(body["seed"]),
            include_stop_str_in_output=bool(body.get("include_stop_str_in_output", False)), top_logprobs=top)
    except (TypeError, ValueError) as e:
        raise BadRequest(f"bad sampling parameter: {e}") from None
    if sp.max_new_tokens < 1 or sp.temperature < 0 or not 0 < sp.top_p <= 1:
        raise BadRequest("need max_tokens >= 1, temperature >= 0 and 0 < top_p <= 1")
    return sp


def _top(n: Any) -> int:
    try:
        n = int(n or 0)
    except (TypeError, ValueError):
        raise BadRequest("top_logprobs must be an integer") from None
    if not 0 <= n <= MAX_TOP_LOGPROBS:
        raise BadRequest(f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}")
    return n


def _common(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if int(body.get("n", 1) or 1) != 1:
        raise BadRequest("only n=1 is supported")
    so = body.get("stream_options") or {}
    return {"stream": bool(body.get("stream", False)),
            "include_usage": bool(so.get("include_usage")) if isinstance(so, dict) else False,
            "return_token_ids": bool(body.get("return_token_ids")),
            "return_entropies": bool(body.get("return_entropies"))}


def parse_chat_request(body: Any) -> tuple[GenerationRequest, dict[str, Any]]:
    """An OpenAI chat-completions body → a request plus the response options it asks for."""
    opts = _common(body)
    messages = _messages(body)
    opts["tools"] = body.get("tools") or None
    if opts["tools"]:
        messages = _with_tools(messages, opts["tools"])
    opts["logprobs"] = bool(body.get("logprobs"))
    top = _top(body.get("top_logprobs")) if opts["logprobs"] else 0
    return GenerationRequest(messages=messages, sampling=_sampling(body, top)), opts


def parse_completion_request(body: Any) -> tuple[GenerationRequest, dict[str, Any]]:
    """A legacy completions body (``prompt``; ``logprobs`` = alternatives per token). The served policy is
    a chat policy: the prompt is its one user message."""
    opts = _common(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise BadRequest("'prompt' must be a string (one prompt per request)")
    lp = body.get("logprobs")
    opts["logprobs"], opts["tools"] = lp is not None and lp is not False, None
    top = _top(lp) if opts["logprobs"] and lp is not True else 0
    return GenerationRequest([{"role": "user", "content": prompt}], _sampling(body, top)), opts


# -- responses ---------------------------------------------------------------------------------------------
def token_text(tok: Any, tid: int | None) -> str:
    if tok is None or tid is None:
        return "" if tid is None else f"<{tid}>"
    return tok.decode([tid], skip_special_tokens=False)


def deltas(tok: Any, ids: list[int] | None, text: str) -> list[str]:
    """``text`` cut at token boundaries (incremental decoding), one piece per token; concatenated they are
    ``text`` exactly (a stop string the server cut stays cut). Without a tokenizer: one piece."""
    if tok is None or not ids:
        return [text]
    single = [tok.decode([i], skip_special_tokens=True) for i in ids]  # fast path: whole characters
    if "".join(single).startswith(text):
        return _clamp(single, text)
    out, prev = [], ""  # incremental decoding (a character split over tokens)
    for i in range(len(ids)):
        cur = tok.decode(ids[: i + 1], skip_special_tokens=True)
        if cur.endswith("\ufffd") or not cur.startswith(prev):  # a character not complete yet: wait
            out.append("")
            continue
        out.append(cur[len(prev):])
        prev = cur
    return _clamp(out, text)


def _clamp(pieces: list[str], text: str) -> list[str]:
    """``pieces`` cut where ``text`` ends; ``[text]`` when they do not spell it."""
    out, used = [], 0
    for d in pieces:
        take = d[: max(0, len(text) - used)]
        out.append(take)
        used += len(take)
    return out if "".join(out) == text else [text]


def _entry(tok: Any, tid: int | None, lp: float) -> dict[str, Any]:
    t = token_text(tok, tid)
    return {"token": t, "logprob": lp, "bytes": list(t.encode("utf-8")), "token_id": tid}


def chat_logprobs(g: Generation, tok: Any) -> list[dict[str, Any]]:
    ids = g.response_ids or [None] * len(g.logprobs or [])
    tops = g.top_logprobs or [[] for _ in ids]
    out = []
    for tid, lp, top in zip(ids, g.logprobs or [], tops, strict=False):
        e = _entry(tok, tid, lp)
        e["top_logprobs"] = [_entry(tok, a, alp) for a, alp in top]
        out.append(e)
    return out


def _message(g: Generation, opts: dict[str, Any]) -> tuple[dict[str, Any], str]:
    finish = "length" if g.finish_reason == "length" else "stop"
    msg: dict[str, Any] = {"role": "assistant", "content": g.text}
    calls = decode_calls(g.text) if opts.get("tools") else None
    if calls:
        msg["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:20]}", "type": "function",
                              "function": {"name": c.get("name"),
                                           "arguments": _arguments(c.get("arguments"))}}
                             for c in calls]
        rest = TOOL_CALL_RE.sub("", g.text).strip()
        msg["content"] = rest or None
        finish = "tool_calls"
    return msg, finish


def _arguments(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args or {})


def _usage(g: Generation) -> dict[str, int]:
    return {"prompt_tokens": g.usage.prompt_tokens, "completion_tokens": g.usage.completion_tokens,
            "total_tokens": g.usage.prompt_tokens + g.usage.completion_tokens}


def _head(kind: str, model: str, rid: str) -> dict[str, Any]:
    return {"id": rid, "object": kind, "created": int(time.time()), "model": model}


def chat_response(g: Generation, opts: dict[str, Any], model: str, tok: Any) -> dict[str, Any]:
    msg, finish = _message(g, opts)
    choice: dict[str, Any] = {"index": 0, "message": msg, "finish_reason": finish, "logprobs": None}
    if opts["logprobs"] and g.logprobs is not None:
        choice["logprobs"] = {"content": chat_logprobs(g, tok)}
    if opts["return_token_ids"]:
        choice["token_ids"] = g.response_ids
    if opts["return_entropies"]:
        choice["entropies"] = g.entropies
    out = {**_head("chat.completion", model, f"chatcmpl-{uuid.uuid4().hex[:24]}"), "choices": [choice],
           "usage": _usage(g)}
    if opts["return_token_ids"]:
        out["prompt_token_ids"] = g.prompt_ids
    return out


def chat_chunks(g: Generation, opts: dict[str, Any], model: str, tok: Any) -> list[dict[str, Any]]:
    """The stream of one reply: a role chunk, one content chunk per token (with its logprobs entry when
    asked), the tool calls, a finish chunk, and a usage chunk when ``stream_options.include_usage``."""
    head = _head("chat.completion.chunk", model, f"chatcmpl-{uuid.uuid4().hex[:24]}")
    msg, finish = _message(g, opts)

    def chunk(delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None,
                                     **extra}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if msg.get("tool_calls"):
        if msg["content"]:
            out.append(chunk({"content": msg["content"]}))
        out.append(chunk({"tool_calls": [{"index": i, **c} for i, c in enumerate(msg["tool_calls"])]}))
    else:
        entries = chat_logprobs(g, tok) if opts["logprobs"] and g.logprobs is not None else None
        pieces = deltas(tok, g.response_ids, g.text)
        if entries is not None and len(pieces) != len(entries):
            pieces = [g.text] + [""] * (len(entries) - 1) if entries else [g.text]
        for i, piece in enumerate(pieces):
            extra = {"logprobs": {"content": [entries[i]]}} if entries else {}
            if piece or extra:
                out.append(chunk({"content": piece}, **extra))
    out.append(chunk({}, finish_reason=finish))
    if opts["include_usage"]:
        out.append({**head, "choices": [], "usage": _usage(g)})
    return out


def completion_response(g: Generation, opts: dict[str, Any], model: str, tok: Any) -> dict[str, Any]:
    finish = "length" if g.finish_reason == "length" else "stop"
    lp = _legacy_logprobs(g, tok) if opts["logprobs"] else None
    choice: dict[str, Any] = {"index": 0, "text": g.text, "finish_reason": finish, "logprobs": lp}
    return {**_head("text_completion", model, f"cmpl-{uuid.uuid4().hex[:24]}"), "choices": [choice],
            "usage": _usage(g)}


def completion_chunks(g: Generation, opts: dict[str, Any], model: str, tok: Any) -> list[dict[str, Any]]:
    head = _head("text_completion", model, f"cmpl-{uuid.uuid4().hex[:24]}")
    out = [{**head, "choices": [{"index": 0, "text": p, "logprobs": None, "finish_reason": None}]}
           for p in deltas(tok, g.response_ids, g.text) if p]
    finish = "length" if g.finish_reason == "length" else "stop"
    out.append({**head, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": finish}]})
    if opts["include_usage"]:
        out.append({**head, "choices": [], "usage": _usage(g)})
    return out


def _legacy_logprobs(g: Generation, tok: Any) -> dict[str, Any] | None:
    if g.logprobs is None:
        return None
    ids = g.response_ids or [None] * len(g.logprobs)
    toks = [token_text(tok, t) for t in ids]
    offsets, at = [], 0
    for t in toks:
        offsets.append(at)
        at += len(t)
    tops = [{token_text(tok, a): alp for a, alp in top} for top in (g.top_logprobs or [])] or None
    return {"tokens": toks, "token_logprobs": list(g.logprobs), "top_logprobs": tops, "text_offset": offsets,
            "token_ids": ids}
