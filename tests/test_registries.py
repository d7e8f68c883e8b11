"""Every name -> object table of the suite is an ``aem_envs.registry.Registry`` and still resolves the
names it held as a hand-rolled dict (each entry: module, attribute, names it must hold)."""

from __future__ import annotations

import importlib

import pytest

from aem_envs.registry import Registry, UnknownNameError

TABLES = [
    ("aem_envs.swe.sandbox.base", "_RUNTIMES", {"bwrap", "docker"}),
    ("aem_envs.swe.tools", "_TOOLS", {"bash", "view", "replace", "create"}),
    ("aem_envs.webshop.env", "OBSERVATION_MODES", {"text", "text_rich", "html"}),
    ("aem_envs.miniwob.page", "ACTION_PARSERS", {"click", "type"}),
    ("aem_envs.miniwob.oracles", "ORACLES", {"click-test", "click-test-2", "click-button", "focus-text",
                                             "enter-text", "login-user"}),
    ("aem_envs.textworld.games", "GAME_MAKERS", {"coin", "treasure", "custom"}),
    ("aem_envs.household.world", "SYNTAXES", {"0.4", "0.3"}),
    ("aem_envs.household.env", "REWARDS", {"alfworld", "binary"}),
    ("aem_gym.agents.policy", "POLICIES", {"hf", "vllm", "openai", "scripted", "oracle", "random", "human"}),
    ("aem_gym.agents.prompts", "_PROMPTS", {"", "aem/Household", "aem/WebShop"}),
    ("aem_gym.agents.backends.scripted", "SCRIPTS", {"first", "cycle", "invalid"}),
    ("aem_gym.baselines.advantages", "ESTIMATORS", {"grpo", "rloo", "dapo", "gspo", "gigpo"}),
    ("aem_gym.baselines.losses", "KL_ESTIMATORS", {"k1", "k2", "k3"}),
    ("aem_gym.baselines.losses", "AGGREGATIONS", {"token-mean", "seq-mean-token-mean", "seq-mean-token-sum",
                                                 "seq-mean-token-sum-norm"}),
    ("aem_gym.baselines.aem", "SCOPES", {"group", "trajectory", "batch"}),
    ("aem_gym.baselines.update", "TRAJ_WEIGHTS", {"none", "inv_turns"}),
    ("aem_gym.leaderboard.suites", "SUITES", {"default"}),
    ("aem_gym.leaderboard.web", "ROUTES", {"/api/ranking", "/api/submission"}),
    ("aem_gym.cli.commands.serve", "SITES", {"webshop"}),
    ("aem_gym.cli.registry", "COMMANDS", {"envs", "check", "eval", "train", "serve", "leaderboard"}),
]


@pytest.mark.parametrize(("module", "attr", "names"), TABLES, ids=[f"{m}.{a}" for m, a, _ in TABLES])
def test_table_is_a_registry_and_resolves_its_names(module, attr, names):
    if module == "aem_gym.cli.registry":
        importlib.import_module("aem_gym.cli.main").build_parser()  # imports every subcommand module
    table = getattr(importlib.import_module(module), attr)
    assert isinstance(table, Registry)
    assert names <= set(table.names())
    for name in names - {"vllm", "hf", "human", "openai", "docker"}:  # heavy or optional backends
        assert table.get(name) is not None
    with pytest.raises(UnknownNameError, match=f"known: .*{sorted(names)[-1]}"):
        table.get("no-such-name")


def _household_reward():
    import aem_envs

    aem_envs.make("aem/Household-v0", reward="tenx")


def _webshop_mode():
    import aem_envs

    aem_envs.make("aem/WebShop-v0", observation_mode="htm")


def _runtime():
    from aem_envs.swe.sandbox.base import runtime_class

    runtime_class("podman")


def _script():
    from aem_gym.agents import make_policy

    make_policy("scripted:frist")


def _kl():
    import torch

    from aem_gym.baselines.losses import kl_penalty

    kl_penalty(torch.zeros(2), torch.zeros(2), kind="k4")


@pytest.mark.parametrize(("call", "message"), [
    (_household_reward, r"unknown reward mode 'tenx'; known: alfworld, binary"),
    (_webshop_mode,
     r"unknown observation_mode 'htm' \(did you mean 'html'\?\); known: html, text, text_rich"),
    (_runtime, r"unknown sandbox runtime 'podman'.*known: bwrap, docker\. register one with"),
    (_script, r"unknown script 'frist' \(did you mean 'first'\?\)"),
    (_kl, r"unknown KL estimator 'k4'.*known: k1, k2, k3"),
], ids=["household-reward", "webshop-mode", "sandbox-runtime", "script", "kl"])
def test_bad_names_from_users_get_the_known_names(call, message):
    with pytest.raises(Exception, match=message) as e:  # noqa: PT011 - the message is the contract
        call()
    assert isinstance(e.value, ValueError | LookupError) or type(e.value).__name__ == "RuntimeUnavailable"
