from __future__ import annotations

import pytest

import aem_envs
from aem_envs.error import CheckFailed
from tests.aem_envs import toy


def _report(cls):
    return aem_envs.check(cls(), env_fn=cls, raise_on_error=False)


def test_good_env_passes_every_check():
    report = _report(toy.CounterEnv)
    assert report.ok, str(report)
    assert [r.name for r in report.results] == [
        "gymnasium", "info_keys", "determinism", "admissible", "fuzz", "close"]
    assert "skipped" not in str(report)


def test_example_plugin_passes_by_id():
    assert aem_envs.check("example/TreasureHunt-v0").ok


@pytest.mark.parametrize(("cls", "failing"), [
    (toy.NondeterministicEnv, "determinism"),
    (toy.CrashyEnv, "fuzz"),
    (toy.LyingAdmissibleEnv, "admissible"),
])
def test_broken_envs_are_caught(cls, failing):
    report = _report(cls)
    assert not report.ok
    assert failing in {r.name for r in report.failures()}, str(report)


def test_raise_on_error_raises_with_the_report():
    with pytest.raises(CheckFailed, match=r"\[FAIL\] fuzz"):
        aem_envs.check(toy.CrashyEnv(), env_fn=toy.CrashyEnv)


def test_env_without_spec_or_factory_skips_copy_checks_and_says_so():
    report = aem_envs.check(toy.CounterEnv(), raise_on_error=False)
    assert report.ok and "skipped: the env has no spec" in str(report)
