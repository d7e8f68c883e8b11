"""``aem eval`` with an ``openai:`` agent: extra body, tools protocol, the independent schedule, tokens."""

from __future__ import annotations

import json

import yaml

from aem_gym.cli.main import main
from tests.agents.fake_openai import FakeOpenAI, completion


def test_eval_an_api_agent_with_tools_and_extra_body(tmp_path, capsys):
    call = {"id": "c", "type": "function", "function": {"name": "act", "arguments": '{"action": "look"}'}}
    with FakeOpenAI(lambda body: (200, completion(None, tool_calls=[call], reasoning="dark room"))) as api:
        rc = main(["eval", "--agent", f"openai:m@{api.url}", "--suite", "aem/Household-v0", "--episodes", "2",
                   "--max-turns", "3", "--out", str(tmp_path / "r"), "--no-progress", "--protocol", "tools",
                   "--extra-body", '{"reasoning_effort": "low"}', "--prices", "1", "4"])
    assert rc == 0
    assert all(b["reasoning_effort"] == "low" for b in api.bodies)
    assert all(b["tools"][0]["function"]["name"] == "act" for b in api.bodies)
    assert len(api.bodies) == 6
    meta = yaml.safe_load((tmp_path / "r" / "metadata.yaml").read_text())
    assert meta["agent"]["config"]["schedule"] == "independent"
    assert meta["agent"]["config"]["protocol"] == "tools"
    assert meta["settings"]["extra_body"] == {"reasoning_effort": "low"}
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["overall"]["tokens"] == {"prompt": 66, "completion": 30}
    assert s["overall"]["cost_usd"] == (66 * 1 + 30 * 4) / 1e6
    assert "tokens: 66 prompt, 30 completion" in capsys.readouterr().out
    rows = [json.loads(x) for x in next((tmp_path / "r" / "trajectories").iterdir()).read_text().splitlines()]
    turn = rows[0]["turns"][0]
    assert turn["action"] == "look" and turn["info"]["reasoning"] == "dark room"
    assert turn["info"]["tool_calls"]
