from __future__ import annotations

import json

import gymnasium as gym
import pytest

from aem_envs.wrappers import ActionParser, HistoryPrompt, InvalidActionPenalty, TrajectoryRecorder, TurnLimit
from tests.aem_envs.toy import CounterEnv


class EchoEnv(CounterEnv):
    """Says back exactly the action it received (free text: no admissible list)."""

    def admissible_actions(self):
        return None

    def _step(self, action):
        from aem_envs import StepResult

        return StepResult(f"got {action!r}")


def test_turn_limit_truncates_and_then_requires_reset():
    env = TurnLimit(CounterEnv(), max_turns=3)
    env.reset(seed=0)
    assert env.step("inc")[3] is False
    assert env.step("inc")[3] is False
    obs, r, term, trunc, info = env.step("inc")
    assert trunc and info["turn_limit_reached"] and info["turns"] == 3
    with pytest.raises(gym.error.ResetNeeded):
        env.step("inc")
    env.reset(seed=0)
    assert env.step("inc")[4]["turns"] == 1
    with pytest.raises(ValueError):
        TurnLimit(CounterEnv(), 0)


def test_turn_limit_does_not_truncate_a_terminated_step():
    env = TurnLimit(CounterEnv(), max_turns=1)
    env.reset(seed=0)
    _, _, term, trunc, _ = env.step("stop")
    assert term and not trunc


def test_action_parser_extracts_last_tagged_action_and_normalises_space():
    env = ActionParser(CounterEnv())
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step("<think>maybe <action>stop</action>?</think> "
                                         "no: <action>  inc </action>")
    assert info["parsed_action"] == "inc" and info["is_action_valid"] and obs == "Count is 1."


def test_action_parser_unparsable_text_is_an_invalid_observation_with_penalty():
    env = ActionParser(CounterEnv(), penalty=-0.5)
    first, _ = env.reset(seed=0)
    for text in ("I would increment", "<action></action>", None, "<action>" + "x" * 30_000 + "</action>"):
        obs, r, term, trunc, info = env.step(text)
        assert r == -0.5 and not term and info["is_action_valid"] is False and info["parse_error"] is True
        assert "Invalid action format" in obs and first in obs  # the last observation is repeated
    assert env.unwrapped.turn == 0  # the env never saw them


def test_multi_line_actions_keep_their_whitespace():
    from aem_envs.wrappers.action_parser import parse_action

    edit = "<action><replace path='a.py'>\n    if x:\n        return  1\n</replace></action>"
    assert parse_action(edit) == "<replace path='a.py'>\n    if x:\n        return  1\n</replace>"
    assert parse_action("<action>\tgo to   desk 1 </action>") == "go to   desk 1"


@pytest.mark.parametrize("action", ['printf "a  b"', "    return  x",
                                    "<replace path=\"m.py\"><old>a  =  1</old>"
                                    "<new>    a = 2</new></replace>", "echo '\t|'"])
def test_one_line_actions_keep_their_inner_whitespace(action):
    """Issue 20: one-line actions arrived with runs of spaces collapsed (code and verbatim text corrupted)."""
    from aem_envs.wrappers.action_parser import parse_action

    assert parse_action(f"thinking... <action> {action}\n</action>") == action.strip()
    env = ActionParser(EchoEnv())
    env.reset(seed=0)
    assert env.step(f"<action>{action}</action>")[0] == f"got {action.strip()!r}"


def test_listed_actions_match_up_to_case_and_spacing_free_text_does_not():
    from aem_envs.wrappers.action_parser import match_admissible

    acts = ["go to desk 1", "take apple 1 from desk 1", "search[<your query>]"]
    assert match_admissible("Go to  Desk 1", acts) == "go to desk 1"
    assert match_admissible("take apple 1 from desk 1", acts) == "take apple 1 from desk 1"
    assert match_admissible("go to desk 2", acts) is None and match_admissible("x", None) is None
    assert match_admissible("A  b", ["a b", "A B"]) is None  # ambiguous: no guess
    env = ActionParser(CounterEnv())
    env.reset(seed=0)
    obs, *_, info = env.step("<action>  INC </action>")
    assert obs == "Count is 1." and info["parsed_action"] == "inc"


def test_a_reply_cut_at_the_token_limit_says_so():
    from aem_envs.wrappers.action_parser import CutReply

    env = ActionParser(CounterEnv())
    first, _ = env.reset(seed=0)
    for text in ("Let me think about this at length and", "<action><create path='x'>long",
                 "<action>inc</action> wait, better: <action>st"):
        obs, r, term, trunc, info = env.step(CutReply(text, 4096))
        assert obs.startswith("Your reply was cut at 4096 tokens") and "Invalid action format" not in obs
        assert info["reply_cut"] == 4096 and info["parse_error"] and not info["is_action_valid"]
        assert first in obs
    assert env.unwrapped.turn == 0
    obs, *_, info = env.step(CutReply("<action>inc</action> and then I would", 50))  # complete: it runs
    assert obs == "Count is 1." and info["reply_cut"] == 50 and not info["parse_error"]
    import pickle

    again = pickle.loads(pickle.dumps(CutReply("abc", 7)))  # crosses process workers intact
    assert again == "abc" and again.cut_at == 7


def test_action_parser_custom_parse_function():
    env = ActionParser(CounterEnv(), parse=lambda t: t.split(":", 1)[1].strip() if ":" in t else None)
    env.reset(seed=0)
    assert env.step("ACTION: inc")[0] == "Count is 1."


def test_invalid_action_penalty_only_on_invalid_steps():
    env = InvalidActionPenalty(CounterEnv(), penalty=-0.1)
    env.reset(seed=0)
    _, r, *_, info = env.step("dance")
    assert r == pytest.approx(-0.1) and info["env_reward"] == 0.0
    _, r, *_ = env.step("inc")
    assert r == 0.0


def test_history_prompt_keeps_last_k_turns_and_shows_actions():
    env = HistoryPrompt(CounterEnv(), k=2)
    obs, info = env.reset(seed=0)
    assert "Admissible actions: inc, stop" in obs and info["raw_observation"].startswith("Reach")
    for _ in range(3):
        obs, *_ , info = env.step("inc")
    assert "Reach" in obs  # the task stays in view
    assert "[Turn 3] Observation: Count is 2.\nAction: inc" in obs
    assert "[Turn 2] Observation: Count is 1.\nAction: inc" in obs
    assert "[Turn 1]" not in obs  # only the last k=2 turns are shown
    assert "Current observation:\nCount is 3." in obs


def test_history_prompt_k0_has_no_history():
    env = HistoryPrompt(CounterEnv(), k=0, show_actions=False)
    env.reset(seed=0)
    obs, *_ = env.step("inc")
    assert "You have taken" not in obs and "Admissible" not in obs


def test_recorder_writes_finished_and_unfinished_episodes(tmp_path):
    path = tmp_path / "traj.jsonl"
    env = TrajectoryRecorder(CounterEnv(), path)
    env.reset(seed=3)
    while True:
        _, _, term, trunc, _ = env.step(env.unwrapped.oracle_action())
        if term or trunc:
            break
    env.reset(seed=4)
    env.step("inc")
    env.close()
    env.close()
    eps = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["finished"] for e in eps] == [True, False]
    assert eps[0]["won"] and eps[0]["return"] == 1.0 and eps[0]["seed"] == 3
    assert eps[0]["turns"][-1]["action"] == "stop" and len(eps[1]["turns"]) == 1
    assert eps[0]["instance_id"] and eps[0]["task_type"] == "count"
