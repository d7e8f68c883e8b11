"""Fixtures for the agents tests: one tiny model per session (building it takes about a second)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory):
    from aem_gym.agents.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_policy(tiny_dir):
    from aem_gym.agents.backends.hf import HFPolicy

    return HFPolicy.from_pretrained(tiny_dir, device="cpu", seed=0)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core box OpenMP spinning makes
    them 5-10x slower under load; restore the setting so other packages' tests are unaffected."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        yield
        return
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)
