"""Constrained decoding (``agents.constrained``) inside vLLM: a logits processor for vLLM's V1 engine.

Imported by vLLM itself (``LLM(logits_processors=[agents.backends.vllm.LOGITS_PROCESSOR])``, or
``vllm serve --logits-processors ...``), so it needs vLLM at import time; nothing else imports it.

A request opts in with ``SamplingParams(extra_args={"aem_replies": [[ids...], ...]})``: the token ids of
every admissible reply (``agents.constrained.reply_sequences``). At each step the logits of ids that continue
no reply are set to ``agents.constrained.MASKED``, exactly as ``HFPolicy`` does; once the response left the
trie (or finished a reply) the row is left alone. The processor runs before temperature, and vLLM's
``processed_logprobs`` are taken after it, so the log-probs are those of the masked distribution.
"""

from __future__ import annotations

from typing import Any

import torch
from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

from aem_gym.agents.constrained import MASKED, ReplyTrie

EXTRA_ARG = "aem_replies"


class _TrieMask:
    def __init__(self, replies: list[list[int]]):
        self.trie = ReplyTrie(replies)

    def __call__(self, output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
        ok = self.trie.allowed(output_ids)
        if not ok:
            return logits
        idx = torch.tensor(ok, dtype=torch.long, device=logits.device)
        out = torch.full_like(logits, MASKED)
        out[idx] = logits[idx]
        return out


class AdmissibleReplies(AdapterLogitsProcessor):
    """Per-request trie masks (changes the argmax, so it also applies to greedy requests)."""

    def is_argmax_invariant(self) -> bool:
        return False

    def new_req_logits_processor(self, params: Any) -> _TrieMask | None:
        replies = (getattr(params, "extra_args", None) or {}).get(EXTRA_ARG)
        return _TrieMask(replies) if replies else None
