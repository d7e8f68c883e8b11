"""OpenAIPolicy (the official openai client) against a real local server (agents.serve) backed by the tiny
HF model, and against a scripted server (fake_openai) for what a hosted API does: refused fields, reasoning
content, tool calls, failures."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from aem_gym.agents import GenerationRequest, RolloutEngine, SamplingParams, make_policy
from aem_gym.agents.backends.openai import OpenAIPolicy
from aem_gym.agents.serve import PolicyServer
from aem_gym.agents.types import Generation
from tests.agents.fake_openai import FakeOpenAI, completion, error


@pytest.fixture(scope="module")
def server(tiny_policy):
    with PolicyServer(tiny_policy, model_name="tiny", max_wait_s=0.05) as srv:
        yield srv


def reqs(n=3, **sp):
    texts = ["look", "You are in the hall. Exits: north, east.", "go north " * 6]
    return [GenerationRequest([{"role": "user", "content": texts[i % 3]}],
                              SamplingParams(**{"max_new_tokens": 10, "temperature": 0.0, **sp}))
            for i in range(n)]


def test_client_gets_what_the_in_process_policy_gives(server, tiny_policy):
    client = make_policy(f"openai:tiny@{server.url}")
    assert isinstance(client, OpenAIPolicy) and client.url == server.url + "/chat/completions"
    assert client.body(reqs(1)[0]).get("max_tokens") is None  # max_completion_tokens, OpenAI's current name
    remote, local = client.generate(reqs(3)), tiny_policy.generate(reqs(3))
    for r, loc in zip(remote, local, strict=True):
        assert r.text == loc.text and r.finish_reason == loc.finish_reason
        assert r.prompt_ids == loc.prompt_ids and r.response_ids == loc.response_ids
        assert r.logprobs == pytest.approx(loc.logprobs, abs=1e-4)
        assert r.entropies == pytest.approx(loc.entropies, abs=1e-4)
        assert r.usage.prompt_tokens == len(loc.prompt_ids)
        assert r.usage.completion_tokens == len(loc.response_ids)
    assert max(server.batches) > 1  # concurrent client requests were batched into one generate call


def test_plain_openai_fields_only(server):
    client = OpenAIPolicy("tiny", base_url=server.url, token_ids=False, entropies=False)
    g = client.generate(reqs(1, stop=["zzz"]))[0]
    # ids recovered from the logprobs entries' token_id field; no entropies without the extension
    assert g.response_ids and len(g.logprobs) == len(g.response_ids) and g.entropies is None
    assert g.prompt_ids is None
    assert client.body(reqs(1, seed=2**40, top_k=5)[0])["seed"] < 2**31
    hosted = OpenAIPolicy("gpt-x", base_url="https://api.openai.com/v1", api_key="k").body(reqs(1)[0])
    assert not hosted.keys() & {"logprobs", "return_token_ids", "return_entropies", "max_tokens"}
    assert hosted["max_completion_tokens"] == 10


def _post(url, payload: bytes):
    req = urllib.request.Request(url + "/chat/completions", data=payload,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("payload", [
    b"{not json", b"[]", b'{"messages": []}', b'{"messages": [{"role": "user"}]}',
    b'{"messages": [{"role": "user", "content": "x"}], "n": 2}',
    b'{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}'])
def test_bad_requests_get_a_400_json_error(server, payload):
    status, body = _post(server.url, payload)
    assert status == 400 and body["error"]["type"] == "invalid_request_error" and body["error"]["message"]


def test_models_route_and_404(server):
    with urllib.request.urlopen(server.url + "/models", timeout=10) as r:
        assert json.loads(r.read())["data"][0]["id"] == "tiny"
    status, body = _post(server.url.replace("/v1", "/v2"), b"{}")
    assert status == 404


class _Flaky:
    """Fails the first ``n`` batches (the server answers 500), then answers."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def generate(self, requests):
        self.calls += 1
        if self.calls <= self.n:
            raise RuntimeError("overloaded")
        return [Generation(text="<action>look</action>") for _ in requests]


def test_retries_then_error_generation():
    with PolicyServer(_Flaky(2)) as srv:
        g = OpenAIPolicy("m", base_url=srv.url, backoff_s=0.01, max_retries=3).generate(reqs(1))[0]
        assert g.text == "<action>look</action>" and g.finish_reason == "stop"
    with PolicyServer(_Flaky(100)) as srv:
        g = OpenAIPolicy("m", base_url=srv.url, backoff_s=0.01, max_retries=1).generate(reqs(1))[0]
        assert g.finish_reason == "error" and "HTTP 500" in g.error and "overloaded" in g.error
        assert "2 attempts" in g.error
    dead = OpenAIPolicy("m", base_url="http://127.0.0.1:9/v1", backoff_s=0.01, max_retries=1, timeout_s=2)
    g = dead.generate(reqs(1))[0]
    assert g.finish_reason == "error" and "cannot reach" in g.error


def test_spec_parsing(monkeypatch):
    p = make_policy("openai:org/model@v2@http://h:1/v1")
    assert p.model == "org/model@v2" and p.url == "http://h:1/v1/chat/completions"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAIPolicy("gpt", base_url="https://api.openai.com/v1")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env-host:2/v1")
    assert make_policy("openai:gpt").url == "http://env-host:2/v1/chat/completions"
    with pytest.raises(ValueError):
        OpenAIPolicy("m", base_url="ftp://x")


def test_rollout_through_the_endpoint(server):
    sp = SamplingParams(max_new_tokens=6)
    res = RolloutEngine(workers=2, progress=False).run("example/TreasureHunt-v0", tasks=[0], group_size=2,
                                                       policy=make_policy(f"openai:tiny@{server.url}"),
                                                       max_turns=2, sampling=sp)
    assert len(res.turns) == 4 and all(r.response_ids and r.logprobs and r.entropies for r in res.turns)


def test_a_refused_field_is_dropped_and_stays_dropped():
    """Reasoning models refuse logprobs; old servers refuse max_completion_tokens: retried without."""
    def answer(body):
        if "logprobs" in body:
            return error(400, "logprobs are not supported with this model")
        if "max_completion_tokens" in body:
            return error(400, "Unrecognized request argument supplied: max_completion_tokens")
        return 200, completion()

    with FakeOpenAI(answer) as api:
        p = OpenAIPolicy("m", base_url=api.url, logprobs=True, top_logprobs=3, token_ids=False,
                         entropies=False)
        assert [g.text for g in p.generate(reqs(2))] == ["<action>look</action>"] * 2
        firsts, last = api.bodies[:-1], api.bodies[-1]
        assert "logprobs" in api.bodies[0] and "top_logprobs" in api.bodies[0]
        assert "logprobs" not in last and "top_logprobs" not in last and last["max_tokens"] == 10
        n = len(api.bodies)
        p.generate(reqs(1))  # remembered: one request, already adapted
        assert len(api.bodies) == n + 1 and "max_completion_tokens" not in api.bodies[-1]
        assert len(firsts) >= 2


@pytest.mark.parametrize("message", ["This model's maximum context length is 8 tokens",
                                     "max_completion_tokens is too large: 10. This model supports at most 5"])
def test_a_bad_request_is_a_backend_error_without_retries(message):
    with FakeOpenAI(lambda b: error(400, message)) as api:
        g = OpenAIPolicy("m", base_url=api.url, backoff_s=0.01).generate(reqs(1))[0]
        assert g.finish_reason == "error" and message in g.error and len(api.bodies) == 1


def test_extra_body_reasoning_and_usage():
    msg = {"reasoning_content": "The room is dark, so I look first."}
    with FakeOpenAI(lambda b: (200, completion("<action>look</action>", **msg))) as api:
        p = OpenAIPolicy("m", base_url=api.url, extra_body={"reasoning_effort": "low", "vendor": {"x": 1}})
        g = p.generate(reqs(1))[0]
        assert api.bodies[0]["reasoning_effort"] == "low" and api.bodies[0]["vendor"] == {"x": 1}
        assert api.bodies[0].get("stream") in (None, False)
        assert g.reasoning == msg["reasoning_content"]
        assert (g.usage.prompt_tokens, g.usage.completion_tokens) == (11, 5)
        res = RolloutEngine(workers=1, progress=False).run("aem/Household-v0", [0], p, max_turns=2)
        assert all(t.info["reasoning"] == msg["reasoning_content"] for t in res.turns)
    with pytest.raises(ValueError, match="JSON object"):
        OpenAIPolicy("m", base_url="http://h/v1", extra_body=["x"])


@pytest.mark.parametrize("schedule", ["lockstep", "independent"])
def test_an_unreachable_endpoint_marks_episodes_error_not_lost(schedule):
    dead = OpenAIPolicy("m", base_url="http://127.0.0.1:9/v1", backoff_s=0.01, max_retries=1, timeout_s=2)
    res = RolloutEngine(workers=1, progress=False, schedule=schedule).run("aem/Household-v0", [0, 1], dead,
                                                                          max_turns=3)
    assert all(t.status == "error" and t.error and "cannot reach" in t.error and not t.turns
               for t in res.trajectories)
    assert res.summary()["errors"] == 2


def test_native_tool_calls_through_the_loop():
    def answer(body):
        call = {"id": "c1", "type": "function",
                "function": {"name": "act", "arguments": '{"action": "look"}'}}
        return 200, completion(None, tool_calls=[call] * (2 if len(api.bodies) > 1 else 1))

    with FakeOpenAI(answer) as api:
        p = OpenAIPolicy("m", base_url=api.url)
        res = RolloutEngine(workers=1, progress=False, protocol="tools").run("aem/Household-v0", [0], p,
                                                                             max_turns=2)
    body = api.bodies[0]
    assert [t["function"]["name"] for t in body["tools"]] == ["act"] and body["tool_choice"] == "required"
    assert "<action>" not in body["messages"][-1]["content"].rsplit("\n\n", 1)[-1]
    first, second = res.turns
    assert first.info["parsed_action"] == "look" and first.is_action_valid
    assert first.info["tool_calls"] == [{"name": "act", "arguments": '{"action": "look"}'}]
    assert not second.is_action_valid and "exactly one function" in second.info["tool_error"]


def test_a_reasoning_model_refusing_temperature_is_recorded():
    def answer(body):
        if "temperature" in body:
            return error(400, "Unsupported value: 'temperature' does not support 0.0 with this model.")
        return 200, completion()

    with FakeOpenAI(answer) as api:
        p = OpenAIPolicy("o", base_url=api.url)
        assert p.generate(reqs(1))[0].text == "<action>look</action>"
        assert "temperature" not in api.bodies[-1] and p.config["refused"] == ["temperature"]


def test_rate_limits_wait_as_long_as_retry_after_asks():
    def answer(body):
        if len(api.bodies) == 1:
            return (*error(429, "Rate limit reached"), {"Retry-After": "0.5"})
        return 200, completion()

    with FakeOpenAI(answer) as api:
        t0 = time.perf_counter()
        g = OpenAIPolicy("m", base_url=api.url, backoff_s=0.01).generate(reqs(1))[0]
        assert g.text == "<action>look</action>" and len(api.bodies) == 2
        assert time.perf_counter() - t0 >= 0.5  # not the 0.01 s backoff
