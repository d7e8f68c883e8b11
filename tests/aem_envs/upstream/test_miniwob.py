"""aem/MiniWoB-<task>-v0: text rendering, text actions, oracle wins, determinism (needs Chromium)."""

from __future__ import annotations

import importlib.util

import pytest

import aem_envs

if importlib.util.find_spec("miniwob") is None:
    pytest.skip("miniwob is not installed (pip install -e '.[miniwob]')", allow_module_level=True)

from aem_envs.miniwob.browser import chromium_problem  # noqa: E402
from aem_envs.miniwob.page import parse  # noqa: E402
from aem_envs.miniwob.registration import TASKS  # noqa: E402

if chromium_problem():
    pytest.skip(chromium_problem(), allow_module_level=True)


@pytest.fixture(scope="module")
def login():
    env = aem_envs.make("aem/MiniWoB-login-user-v0")
    yield env
    env.close()


def test_registered_with_pinned_version():
    ids = {e.id for e in aem_envs.list_envs()}
    assert {f"aem/MiniWoB-{t}-v0" for t in TASKS} <= ids
    from importlib import metadata

    ts = aem_envs.TaskSet.open("miniwob", "v0")
    assert ts.manifest.backends == {"miniwob": metadata.version("miniwob")}


def test_aem_check_passes():
    aem_envs.check("aem/MiniWoB-click-button-v0", steps=3, max_admissible=4, fuzz=16)


@pytest.mark.parametrize("task", TASKS)
def test_oracle_wins(task):
    env = aem_envs.make(f"aem/MiniWoB-{task}-v0", split="test")
    try:
        obs, info = env.reset(seed=5)
        assert obs.startswith("Task: ") and all(a.startswith("click[") for a in info["admissible_actions"])
        total, terminated = 0.0, False
        while (action := env.unwrapped.oracle_action()) is not None:
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            assert info["is_action_valid"], (action, obs)
            if terminated or truncated:
                break
        assert terminated and info["won"] and total == 1.0, obs
    finally:
        env.close()


def test_page_text_actions_and_determinism(login):
    obs, info = login.reset(seed=3)
    assert login.reset(seed=3)[0] == obs  # same seed, same page
    fields = info["fields"]
    assert f'"{fields["username"]}"' in obs and "input_password#password" in obs
    ref = next(line for line in obs.splitlines() if "#username" in line).split("]")[0].split("[")[1]
    button = next(line for line in obs.splitlines() if "button" in line).split("]")[0].split("[")[1]
    for bad in ("click[999]", f"type[{button}][hello]", "press enter", f"type[{ref}][]", "x" * 5000):
        out, reward, terminated, _, info = login.step(bad)
        assert not info["is_action_valid"] and reward == 0 and not terminated
        assert out.startswith("Invalid action") and obs in out  # says why, shows the unchanged page
    out, *_, info = login.step(f"type[{ref}][{fields['username']}]")
    assert info["is_action_valid"] and f'value="{fields["username"]}"' in out


def test_wrong_submit_fails_with_raw_reward(login):
    obs, _ = login.reset(seed=4)
    button = next(line for line in obs.splitlines() if "button" in line).split("]")[0].split("[")[1]
    out, reward, terminated, _, info = login.step(f"click[{button}]")  # log in with empty fields
    assert terminated and not info["won"] and reward == -1.0 and "failure" in out
    assert login.unwrapped.oracle_action() is None


def test_parse_grammar():
    from aem_envs.miniwob.page import Element

    elems = [Element(4, "input_text", "", "", "tt", "", 0, False),
             Element(5, "button", "Go", None, "", "", 0, False)]
    assert parse(" click[ 5 ] ", elems).ref == 5
    typed = parse("type[4][a]b c]", elems)
    assert (typed.kind, typed.ref, typed.text) == ("type", 4, "a]b c")
    assert isinstance(parse("type[4][" + "y" * 65 + "]", elems), str)
    assert isinstance(parse("click[4", elems), str)
