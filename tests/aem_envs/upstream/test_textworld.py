"""aem/TextWorld-<kind>-v0: games generated from seeds and cached, walkthrough/planner wins, contract."""

from __future__ import annotations

import importlib.util

import pytest

import aem_envs

if importlib.util.find_spec("textworld") is None:
    pytest.skip("textworld is not installed (pip install -e '.[textworld]')", allow_module_level=True)

from aem_envs.textworld.games import game_file  # noqa: E402
from aem_envs.textworld.tw import clean_feedback  # noqa: E402

KINDS = ("coin", "treasure", "custom")


def test_registered_with_pinned_version_and_recorded_games():
    ids = {e.id for e in aem_envs.list_envs()}
    assert {f"aem/TextWorld-{k}-v0" for k in KINDS} <= ids
    from importlib import metadata

    ts = aem_envs.TaskSet.open("textworld", "v0")
    assert ts.manifest.backends == {"textworld": metadata.version("textworld")}
    rec = ts.get(ts.ids("dev")[0])
    assert rec["walkthrough"] and set(rec["sha256"]) == {"game.z8", "game.json"}


def test_aem_check_passes():
    # The dev split holds 3 games per kind: at most 3 generations (~3 s each) on a cold cache.
    aem_envs.check("aem/TextWorld-custom-v0", split="dev", steps=4, max_admissible=4, fuzz=16)


@pytest.mark.parametrize("kind", KINDS)
def test_walkthrough_and_planner_win(kind):
    env = aem_envs.make(f"aem/TextWorld-{kind}-v0", split="dev")
    try:
        obs, info = env.reset(seed=1)
        assert obs.startswith(info["task_description"][:40]) and "-= " not in obs.split("\n")[0]
        walkthrough = env.unwrapped.walkthrough()
        for i, action in enumerate(walkthrough):
            if i == 1:  # the planner agrees with the recorded walkthrough's next step or finds its own way
                assert env.unwrapped.oracle_action() is not None
            obs, reward, terminated, truncated, info = env.step(action)
            assert info["is_action_valid"], (action, obs)
        assert terminated and info["won"] and info["score"] == info["max_score"]
        # The planner (policy_commands) also wins from the start, and after a detour.
        env.reset(seed=1)
        env.step("inventory")
        total, steps = 0.0, 0
        while (action := env.unwrapped.oracle_action()) is not None and steps < 60:
            obs, reward, terminated, truncated, info = env.step(action)
            total, steps = total + reward, steps + 1
            if terminated:
                break
        assert info["won"] and total == pytest.approx(1.0)
    finally:
        env.close()


def test_same_seed_same_game_and_hostile_text():
    env = aem_envs.make("aem/TextWorld-treasure-v0", split="dev")
    try:
        first = [env.reset(seed=5)[0], env.step("look")[0]]
        assert [env.reset(seed=5)[0], env.step("look")[0]] == first
        for bad in ("\\help", "é" * 5, "", "take the moon"):
            obs, reward, terminated, _, info = env.step(bad)
            assert not info["is_action_valid"] and reward == 0 and not terminated
    finally:
        env.close()


def test_cached_game_is_verified(tmp_path, monkeypatch):
    ts = aem_envs.TaskSet.open("textworld", "v0")
    rec = dict(ts.get(ts.ids("dev")[0]))
    path = game_file(rec)
    monkeypatch.setenv("AEM_TEXTWORLD_CACHE", str(tmp_path))
    bad = {**rec, "sha256": {"game.z8": "0" * 64}}
    from aem_envs.error import ManifestMismatchError

    # A game generated differently than recorded is refused, not played.
    monkeypatch.setattr("aem_envs.textworld.games.generate",
                        lambda record, folder: (folder / "game.z8").write_bytes(path.read_bytes()))
    with pytest.raises(ManifestMismatchError, match="differs"):
        game_file(bad)


def test_clean_feedback_strips_prompt_and_status():
    raw = "Banner\nDo this: go north.\n\n-= Hall =-\nA hall.\n\n>      -= Hall =-0/1"
    assert clean_feedback(raw, "Do this: go north.") == "Do this: go north.\n\n-= Hall =-\nA hall."
