"""aem/TextWorld-<kind>-v0: games generated from seeds and cached, walkthrough/planner wins, contract."""

from __future__ import annotations

import datetime
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import aem_envs

if importlib.util.find_spec("textworld") is None:
    pytest.skip("textworld is not installed (pip install -e '.[textworld]')", allow_module_level=True)

from aem_envs.textworld.games import SERIAL, game_file, normalise_game, sha256_of  # noqa: E402
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


def test_normalised_game_hashes_the_same_whatever_the_day_hash_seed_and_install_path(tmp_path):
    """What TextWorld writes differently per run: the compile date in the story file's serial, the order of
    a set in game.json, the install path of textworld in game.json. normalise_game removes all three."""
    import json

    import textworld

    ts = aem_envs.TaskSet.open("textworld", "v0")
    rec = ts.get("coin-1000")
    cached = game_file(rec)
    z8, js = tmp_path / "game.z8", tmp_path / "game.json"
    data = bytearray(cached.read_bytes())
    data[0x12:0x18] = b"270315"  # as compiled on 15 March 2027
    z8.write_bytes(bytes(data))
    game = json.loads(cached.with_suffix(".json").read_text())
    names = game["grammar"]["names_to_exclude"]
    assert len(names) > 2 and None in names
    game["grammar"]["names_to_exclude"] = names[::-1]  # another hash seed's order
    package = Path(textworld.__file__).resolve().parent
    assert game["KB"]["text_grammars_path"].startswith("textworld/")
    game["KB"]["text_grammars_path"] = str(package.parent / game["KB"]["text_grammars_path"])
    js.write_text(json.dumps(game))
    assert sha256_of(z8) != rec["sha256"]["game.z8"] and sha256_of(js) != rec["sha256"]["game.json"]
    normalise_game(z8)
    assert sha256_of(z8) == rec["sha256"]["game.z8"] and sha256_of(js) == rec["sha256"]["game.json"]


def test_fixed_serial_keeps_the_story_file_valid():
    env = aem_envs.make("aem/TextWorld-coin-v0", split="dev")
    try:
        env.reset(options={"instance_id": "coin-1000"})
        assert game_file(env.unwrapped._task).read_bytes()[0x12:0x18] == SERIAL
        assert env.step("verify")[0] == "The game file has verified as intact."  # the checksum still holds
    finally:
        env.close()


# Run in a child under faketime: generate the record's game (game_file checks both files against the
# record's sha256) and print the date the child's clock shows and the game's serial.
_GENERATE_IN_CHILD = """
import datetime, sys
from aem_envs import TaskSet
from aem_envs.textworld.games import game_file
ts = TaskSet.open("textworld", "v0")
for iid in sys.argv[1:]:
    z8 = game_file(ts.get(iid))
print(datetime.date.today().isoformat(), z8.read_bytes()[0x12:0x18].decode())
"""


def test_games_generated_on_another_day_match_the_manifest(tmp_path):
    """A game made on a later day (and with another string hash seed and working directory) hashes to the
    record. faketime shifts the clock of Python and of dynamically linked code; TextWorld's Inform
    compilers are static binaries it cannot reach, so the serial of another day is covered by the test
    above."""
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.skip("Debian's faketime is not installed: run `make system` (scripts/system.d/upstream.sh)")
    shift = 400
    env = {**os.environ, "AEM_TEXTWORLD_CACHE": str(tmp_path / "cache"), "PYTHONHASHSEED": "12345"}
    # The suite itself may run under faketime (the any-day check runs it at +90 days): the child's shift is
    # measured against the real clock, read by a child without libfaketime.
    env = {k: v for k, v in env.items() if not k.startswith("FAKETIME")}
    preload = [p for p in env.get("LD_PRELOAD", "").split(":") if p and "faketime" not in p]
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = ":".join(preload)
    today = subprocess.run([sys.executable, "-c", "import datetime; print(datetime.date.today())"],
                           capture_output=True, text=True, env=env, check=True).stdout.strip()
    # A coin game (its game.json carries a set) and a custom one; the dev split's first of each.
    out = subprocess.run([faketime, "-f", f"+{shift}d", sys.executable, "-c", _GENERATE_IN_CHILD, "coin-1000",
                          "custom-1000"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    child_day, serial = out.stdout.split()[-2:]
    shifted = datetime.date.fromisoformat(child_day) - datetime.date.fromisoformat(today)
    assert abs(shifted.days - shift) <= 1, f"faketime did not shift the child's clock ({child_day})"
    assert serial.encode() == SERIAL
