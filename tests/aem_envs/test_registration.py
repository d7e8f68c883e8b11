from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import gymnasium as gym
import pytest

import aem_envs
from aem_envs.error import UnknownEnvError
from aem_envs.registration import register, suggest


def test_example_plugin_is_registered_through_its_entry_point():
    rows = {r.id: r for r in aem_envs.list_envs()}
    assert rows["example/TreasureHunt-v0"].source == "example"
    env = gym.make("example/TreasureHunt-v0")
    obs, info = env.reset(seed=0)
    assert "treasure" in obs.lower() and info["task_type"] == "find_treasure"
    env.close()


def test_unknown_id_suggests_the_nearest():
    with pytest.raises(UnknownEnvError, match="Did you mean 'example/TreasureHunt-v0'"):
        aem_envs.make("example/TresureHunt-v0")
    with pytest.raises(UnknownEnvError, match="Did you mean 'example/TreasureHunt-v0'"):
        aem_envs.make("example/TreasureHunt-v7")  # wrong version: same name, other version
    assert suggest("zzzzzz-qqqq") == []


def test_aem_namespace_ids_must_be_versioned_names():
    for bad in ("aem/household", "aem/Household-v", "aem/household-v0", "aem/House hold-v0"):
        with pytest.raises(ValueError, match="aem/<Name>-v<N>"):
            register(bad, entry_point="tests.aem_envs.toy:CounterEnv")


def test_register_and_make_our_own_id():
    register("aem/TestCounter-v0", entry_point="tests.aem_envs.toy:CounterEnv", max_episode_steps=5,
             source="tests")
    env = aem_envs.make("aem/TestCounter-v0")
    env.reset(seed=0)
    for _ in range(4):
        env.step("inc")
    *_, truncated, info = env.step("inc")
    assert truncated  # gymnasium's TimeLimit from max_episode_steps
    assert any(r.id == "aem/TestCounter-v0" and r.source == "tests" for r in aem_envs.list_envs())


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "aem-tmp-plugin"
version = "0.0.1"

[project.entry-points."aem_envs.envs"]
tmpplug = "aem_tmp_plugin:register_envs"
broken = "aem_tmp_plugin_missing:register_envs"

[tool.setuptools]
packages = ["aem_tmp_plugin"]
"""

PLUGIN_INIT = '''
from aem_envs import StepResult, TextEnv, register


class Tasks:
    name, version = "tmp", "v0"
    def splits(self): return ["train"]
    def ids(self, split): return ["echo-0", "echo-1"]
    def get(self, iid): return {"instance_id": iid, "task_type": "echo"}


class EchoEnv(TextEnv):
    def __init__(self, split="train", render_mode=None):
        super().__init__(Tasks(), split=split, render_mode=render_mode)
    def _reset_task(self, task, options): return "say hello", {}
    def admissible_actions(self): return ["hello"]
    def _step(self, action):
        ok = action == "hello"
        return StepResult("hi" if ok else "Nothing happens.", reward=float(ok), terminated=ok, won=ok,
                          is_action_valid=ok)


def register_envs():
    register("tmpplug/Echo-v0", entry_point=EchoEnv, source="tmpplug")
'''


def test_a_plugin_package_built_and_installed_in_a_temp_dir_is_made_through_the_entry_point(tmp_path):
    src = tmp_path / "src"
    (src / "aem_tmp_plugin").mkdir(parents=True)
    (src / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (src / "aem_tmp_plugin" / "__init__.py").write_text(PLUGIN_INIT)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(site), str(src)], check=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    script = textwrap.dedent("""
        import warnings, gymnasium as gym
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            import aem_envs
        assert any("broken" in str(x.message) for x in w), [str(x.message) for x in w]
        env = aem_envs.make("tmpplug/Echo-v0")
        obs, info = env.reset(seed=0)
        obs, r, term, trunc, info = env.step("hello")
        assert (obs, r, term, info["won"]) == ("hi", 1.0, True, True), (obs, r, term, info)
        print(aem_envs.check(gym.make("tmpplug/Echo-v0")).ok)
    """)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
    listing = subprocess.run([sys.executable, "-m", "aem_cli", "envs"], env=env, capture_output=True,
                             text=True, check=True).stdout
    assert "tmpplug/Echo-v0" in listing and "plugin broken failed to load" in listing
