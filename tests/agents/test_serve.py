"""``python -m aem_gym.agents.serve`` checked with the official ``openai`` client: streams, top_logprobs,
token text, legacy completions, tools (text fallback)."""

from __future__ import annotations

import pytest

openai = pytest.importorskip("openai")

from aem_gym.agents.serve import PolicyServer  # noqa: E402
from aem_gym.agents.types import Generation  # noqa: E402

MSG = [{"role": "user", "content": "You are in the hall. Exits: north, east."}]


@pytest.fixture(scope="module")
def served(tiny_policy):
    with PolicyServer(tiny_policy, model_name="tiny", max_wait_s=0.01) as srv:
        yield srv, openai.OpenAI(base_url=srv.url, api_key="none", max_retries=0, timeout=120)


def test_chat_stream_yields_chunks_that_make_the_reply(served):
    srv, client = served
    kw = dict(model="tiny", messages=MSG, max_completion_tokens=8, temperature=0, logprobs=True,
              top_logprobs=3)
    whole = client.chat.completions.create(**kw)
    chunks = list(client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}))
    assert len(chunks) >= 3 and all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == [whole.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens == 8
    streamed = [e for c in chunks if c.choices and c.choices[0].logprobs
                for e in c.choices[0].logprobs.content]
    assert [e.token for e in streamed] == [e.token for e in whole.choices[0].logprobs.content]


def test_top_logprobs_and_token_text(served, tiny_policy):
    srv, client = served
    r = client.chat.completions.create(model="tiny", messages=MSG, max_completion_tokens=6, temperature=0,
                                       logprobs=True, top_logprobs=4)
    content = r.choices[0].logprobs.content
    assert len(content) == 6
    tok = tiny_policy.tokenizer
    for e in content:
        assert len(e.top_logprobs) == 4 and not e.token.startswith("token_id:")
        assert e.token == tok.decode([e.token_id]) and bytes(e.bytes) == e.token.encode()
        # greedy: the chosen token is the most likely one, and the alternatives are sorted
        assert e.top_logprobs[0].token == e.token and e.top_logprobs[0].logprob == pytest.approx(e.logprob)
        logprobs = [a.logprob for a in e.top_logprobs]
        assert logprobs == sorted(logprobs, reverse=True)
    none = client.chat.completions.create(model="tiny", messages=MSG, max_completion_tokens=2, logprobs=True)
    assert all(e.top_logprobs == [] for e in none.choices[0].logprobs.content)


def test_legacy_completions_stream(served):
    srv, client = served
    whole = client.completions.create(model="tiny", prompt="look", max_tokens=6, temperature=0, logprobs=2)
    lp = whole.choices[0].logprobs
    assert len(lp.tokens) == 6 and all(len(t) == 2 for t in lp.top_logprobs)
    parts = list(client.completions.create(model="tiny", prompt="look", max_tokens=6, temperature=0,
                                           stream=True))
    assert len(parts) >= 2 and "".join(p.choices[0].text for p in parts) == whole.choices[0].text


def test_bad_top_logprobs_is_a_400(served):
    srv, client = served
    with pytest.raises(openai.BadRequestError, match="top_logprobs"):
        client.chat.completions.create(model="tiny", messages=MSG, logprobs=True, top_logprobs=99)


class _Caller:
    """Answers with a text-fallback tool call, and records the prompts it saw."""

    def __init__(self):
        self.seen = []

    def generate(self, requests):
        self.seen += [r.messages for r in requests]
        return [Generation(text='ok <tool_call>{"name": "act", "arguments": {"action": "look"}}</tool_call>')
                for _ in requests]


def test_tools_answered_with_tool_calls():
    tools = [{"type": "function", "function": {"name": "act", "parameters": {
        "type": "object", "properties": {"action": {"type": "string"}}, "required": ["action"]}}}]
    policy = _Caller()
    with PolicyServer(policy) as srv:
        client = openai.OpenAI(base_url=srv.url, api_key="none", max_retries=0)
        r = client.chat.completions.create(model="p", messages=MSG, tools=tools)
        chunks = list(client.chat.completions.create(model="p", messages=MSG, tools=tools, stream=True))
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls" and msg.content == "ok"
    assert msg.tool_calls[0].function.name == "act"
    assert msg.tool_calls[0].function.arguments == '{"action": "look"}'
    assert "<tool_call>" in policy.seen[0][0]["content"]  # the functions were described to the model
    streamed = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert streamed[0].function.name == "act"


class _ByteTok:
    """A byte-level tokenizer: one token per UTF-8 byte (a character may span tokens)."""

    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids).decode("utf-8", errors="replace")


def test_stream_deltas_never_split_a_character():
    from aem_gym.agents.serve_api import deltas

    ids = list("né ok".encode())
    assert deltas(_ByteTok(), ids, "né ok") == ["n", "", "é", " ", "o", "k"]
    assert deltas(_ByteTok(), ids, "né") == ["n", "", "é", "", "", ""]  # a stop string cut the reply
    assert deltas(None, ids, "né ok") == ["né ok"]
