"""Fixtures: one very small model per session, and the fast TreasureHunt config (as in tests/baselines)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from agents.tiny import build_tiny_model

    d = tmp_path_factory.mktemp("tiny-model")
    build_tiny_model(d, hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64,
                     vocab_size=512)
    return d
