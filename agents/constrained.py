"""Constrained decoding: a model may only write replies that name an admissible action.

``SamplingParams(constrain="admissible")`` asks a backend to decode ``reply_text(a) + <end of turn>`` for some
``a`` in the request's ``context["admissible_actions"]``: at every step the logits of tokens that continue no
admissible reply are masked out (a token trie over the replies' ids). Positions with one continuation are
forced (probability 1, entropy 0). The policy is the *masked* distribution, so a backend returns its
log-probs and entropies, and records the allowed ids of every position (``Generation.allowed_token_ids``)
for a trainer to apply the same masks (``mask_logits``): its ratios and AEM's entropies are then those of
the distribution the tokens were sampled from.

Why: text-game agents usually pick from the admissible list (action masking is standard in
TextWorld/ALFWorld RL). A model trained from scratch on CPU (``aem_gym.agents.tiny``) learns *which* action
to take long before it learns to spell object names out of the list; masking lets RL work on the first.
Free text stays the default, and real LLMs are evaluated unconstrained.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aem_gym.agents.prompts import reply_text

ADMISSIBLE = "admissible"
# not -inf: masked entries must give p = 0 and p·log p = 0, never NaN (also after 1/temperature)
MASKED = -1e9


class ReplyTrie:
    """Allowed next token ids after each prefix of the token sequences of a set of replies."""

    def __init__(self, sequences: Sequence[Sequence[int]]):
        nxt: dict[tuple[int, ...], set[int]] = {}
        for seq in sequences:
            for k in range(len(seq)):
                nxt.setdefault(tuple(seq[:k]), set()).add(int(seq[k]))
        self._next = {p: sorted(v) for p, v in nxt.items()}

    def allowed(self, prefix: Sequence[int]) -> list[int] | None:
        """Ids that continue ``prefix`` towards some reply; None once the prefix left the trie or ended."""
        return self._next.get(tuple(prefix))


def reply_sequences(tokenizer, actions: Sequence[str], end_id: int) -> list[list[int]]:
    """The ids of ``reply_text(a) + [end_id]`` for each distinct action (what a trie is built from; the vLLM
    backend sends them to its logits processor)."""
    return [list(tokenizer(reply_text(a), add_special_tokens=False)["input_ids"]) + [int(end_id)]
            for a in dict.fromkeys(str(a) for a in actions)]


def admissible_trie(tokenizer, actions: Sequence[str] | None, end_id: int) -> ReplyTrie | None:
    """The trie of ``reply_text(a) + [end_id]`` over ``actions`` (None when there are none: free text)."""
    if not actions:
        return None
    return ReplyTrie(reply_sequences(tokenizer, actions, end_id))


def check_constrain(value: str | None) -> None:
    if value not in (None, ADMISSIBLE):
        raise ValueError(f"sampling.constrain must be None or {ADMISSIBLE!r}, got {value!r}")


def allowed_tensor(rows: Sequence[Sequence[Sequence[int]] | None], width: int) -> torch.Tensor | None:
    """``[B, width, K]`` long, -1 padded: row b's allowed ids at response position k (all -1 = free)."""
    if not any(rows):
        return None
    k = max((len(a) for r in rows if r for a in r), default=1)
    out = torch.full((len(rows), width, max(1, k)), -1, dtype=torch.long)
    for b, r in enumerate(rows):
        for pos, ids in enumerate((r or [])[:width]):
            if ids:
                out[b, pos, :len(ids)] = torch.tensor(list(ids), dtype=torch.long)
    return out


def mask_logits(logits: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """``logits`` ``[..., V]`` with every id outside ``allowed`` ``[..., K]`` (-1 padded) set to ``MASKED``;
    positions whose allowed list is empty are left alone."""
    if allowed is None:
        return logits
    hit = torch.zeros(logits.shape, dtype=torch.float32, device=logits.device)
    hit.scatter_add_(-1, allowed.clamp_min(0), (allowed >= 0).float())  # scatter_add: padding adds 0
    constrained = (allowed >= 0).any(-1, keepdim=True)
    return logits.masked_fill(constrained & (hit <= 0), MASKED)
