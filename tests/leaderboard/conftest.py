"""Fixtures: small real runs on the example plugin's treasure hunt (10 test tasks, ~0.1 s each)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aem_gym.agents.evaluate import EvalConfig
from aem_gym.leaderboard.runner import evaluate


def make_run(out: Path, agent: str = "oracle", seeds: tuple[int, ...] = (0, 1), episodes: int | None = None,
             name: str | None = None) -> Path:
    return evaluate(agent, EvalConfig(seeds=list(seeds), episodes=episodes, progress=False), out,
                    suite="example", name=name)


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Pristine results dirs (never modify them; copy with ``fresh``)."""
    root = tmp_path_factory.mktemp("runs")
    return {"oracle": make_run(root / "oracle"),
            "random": make_run(root / "random", agent="random", seeds=(0, 1, 2)),
            "oracle3": make_run(root / "oracle3", episodes=3, seeds=(0,)),
            "random01": make_run(root / "random01", agent="random", seeds=(0, 1))}


@pytest.fixture
def fresh(runs: dict[str, Path], tmp_path: Path):
    """``fresh("oracle")`` -> a private copy of a session run that a test may tamper with."""

    def copy(name: str) -> Path:
        dst = tmp_path / f"{name}-copy"
        shutil.copytree(runs[name], dst)
        return dst

    return copy


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lb.sqlite"


@pytest.fixture(scope="session")
def extra(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tamper")
    out = {f"random-s{k}": make_run(root / f"random-s{k}", agent="random", seeds=(k,)) for k in range(5)}
    cfg = EvalConfig(seeds=[0], episodes=2, max_turns=3, progress=False)
    out["invalid"] = evaluate("scripted:invalid", cfg, root / "invalid", suite="example")
    out["train3"] = evaluate("oracle", EvalConfig(split="train", seeds=[0], episodes=3, progress=False),
                             root / "train3", suite="example")
    return out


@pytest.fixture
def copy(runs, extra, tmp_path):
    def make(name: str) -> Path:
        dst = tmp_path / f"{name}-tampered"
        shutil.copytree({**runs, **extra}[name], dst)
        return dst

    return make
