"""Fixtures for the agents tests: one tiny model per session (building it takes about a second)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory):
    from agents.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_policy(tiny_dir):
    from agents.backends.hf import HFPolicy

    return HFPolicy.from_pretrained(tiny_dir, device="cpu", seed=0)
