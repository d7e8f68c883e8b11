"""Weight sync into the rollout engine: our side of the protocol on CPU, the real vLLM engine on a GPU."""

from __future__ import annotations

import pytest
import torch

from aem_gym.baselines.vllm_sync import VLLMWeightSync, chunked, logprob_gap


class _FakeLLM:
    """Records what vLLM's ``collective_rpc`` would deliver to ``WorkerExtension.aem_load_weights``."""

    def __init__(self):
        self.calls, self.resets = [], 0

    def collective_rpc(self, method, args=()):
        self.calls.append((method, args))

    def reset_prefix_cache(self):
        self.resets += 1


class _Policy:
    def __init__(self):
        self.llm = _FakeLLM()


def test_chunks_keep_order_and_size():
    named = [(f"w{i}", torch.zeros(n)) for i, n in enumerate([10, 10, 30, 5, 5])]
    chunks = chunked(named, chunk_bytes=80)  # 20 floats
    assert [[n for n, _ in c] for c in chunks] == [["w0", "w1"], ["w2"], ["w3", "w4"]]


@pytest.mark.parametrize("mode", ["direct", "rpc"])
def test_push_sends_every_weight_by_name_then_drops_the_prefix_cache(tiny_model_dir, mode):
    from aem_gym.agents.tiny import load_tiny_model

    model, _ = load_tiny_model(tiny_model_dir)
    pol = _Policy()
    sync = VLLMWeightSync(pol, model, mode=mode, chunk_mb=0)  # chunk_mb=0: one tensor per rpc call
    sync.push()
    sent = [(n, t) for method, (named, _) in pol.llm.calls for n, t in named]
    assert all(method == "aem_load_weights" for method, _ in pol.llm.calls)
    assert [final for _, (_, final) in pol.llm.calls] == [False] * (len(pol.llm.calls) - 1) + [True]
    sd = model.state_dict()
    assert [n for n, _ in sent] == list(sd) and all(torch.equal(t.cpu(), sd[n]) for n, t in sent)
    assert len(pol.llm.calls) == (1 if mode == "direct" else len(sd)) and pol.llm.resets == 1
    with pytest.raises(ValueError):
        VLLMWeightSync(pol, model, mode="ipc")


def test_logprob_gap():
    from aem_gym.agents.types import TurnRecord

    rec = TurnRecord("g", "t", 0, "e", "i", "t", "o", "a", 0.0, True, logprobs=[-1.0, -2.0])
    old = torch.tensor([[-1.5, -2.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert logprob_gap([rec], old, mask) == pytest.approx(0.25)
    rec.logprobs = None
    assert logprob_gap([rec], old, mask) is None


@pytest.mark.gpu
def test_vllm_engine_follows_the_trainer(tiny_model_dir, tmp_path):
    pytest.importorskip("vllm")
    from aem_gym.agents.tiny import load_tiny_model
    from aem_gym.agents.types import GenerationRequest, SamplingParams
    from aem_gym.baselines.config import load_config
    from aem_gym.baselines.vllm_sync import make_vllm_policy

    cfg = load_config(None, overrides={"model.init": str(tiny_model_dir), "env.id": "example/TreasureHunt-v0",
                                       "distributed.vllm": {
        "gpu_memory_utilization": 0.2, "enforce_eager": True}})
    model, tok = load_tiny_model(tiny_model_dir)
    model.cuda()
    pol = make_vllm_policy(cfg, model, tok, tmp_path / "engine")
    sync = VLLMWeightSync(pol, model)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.5)
    sync.push()
    engine_sum = pol.llm.collective_rpc("aem_weight_checksum")[0]
    assert engine_sum == pytest.approx(float(sum(p.float().sum() for p in model.parameters())), rel=1e-2)
    gen = pol.generate([GenerationRequest([{"role": "user", "content": "look"}],
                                          SamplingParams(max_new_tokens=8, seed=0))])[0]
    assert gen.response_ids and gen.logprobs and len(gen.logprobs) == len(gen.response_ids)


def test_worker_extension_reloads_once_with_every_staged_chunk():
    """Chunks sent with final=False wait; the final call hands all of them to vLLM's reload_weights in one
    pass (a per-chunk reload would re-process layers whose weights had not arrived)."""
    from aem_gym.baselines.vllm_sync import WorkerExtension

    class _Worker(WorkerExtension):
        def __init__(self):
            self.model_runner = type("R", (), {"model": torch.nn.Linear(2, 2)})()
            self.reloads = []

        def reload_weights(self, weights_iterator):
            self.reloads.append([n for n, _ in weights_iterator])

    w = _Worker()
    w.aem_load_weights([("a", torch.zeros(1))], final=False)
    w.aem_load_weights([("b", torch.zeros(1))], final=False)
    assert w.reloads == []
    assert w.aem_load_weights([("c", torch.zeros(1))], final=True) == 3
    w.aem_load_weights([("d", torch.zeros(1))])
    assert w.reloads == [["a", "b", "c"], ["d"]]
