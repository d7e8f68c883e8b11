"""Per-turn rows (``aem_gym.agents.types.TurnRecord``) as padded tensors for the trainer (layout A).

Each row is one agent turn: its prompt ids left-padded to a common width P and its sampled response ids
right-padded to R, so ``input_ids`` is ``[B, P+R]`` and the logits of response token k sit at position
P+k-1. The loss mask covers exactly the sampled response ids (including the EOS the model emitted), never
padding: it is built from lengths, not from ``ids != pad`` (pad may equal EOS; docs/training.md).

Ids for groups, trajectories and GiGPO anchor states are dense integers built from the records' string
uids, so every later group operation keys on ids and survives reordering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from aem_gym.agents.constrained import allowed_tensor
from aem_gym.agents.types import TurnRecord


@dataclass
class TurnBatch:
    input_ids: Tensor  # [B, P+R] long
    attention_mask: Tensor  # [B, P+R] long
    response_mask: Tensor  # [B, R] float (1 on sampled response tokens)
    group: Tensor  # [B] long, dense rollout-group id
    traj: Tensor  # [B] long, dense trajectory id (unique across groups)
    turn: Tensor  # [B] long
    reward: Tensor  # [B] float, training reward of the turn (with the invalid-action penalty)
    env_reward: Tensor  # [B] float, unshaped env reward
    step_group: Tensor  # [B] long, (group, raw observation) cluster id for GiGPO
    won: Tensor  # [B] bool, the trajectory's outcome (repeated on its rows)
    valid: Tensor  # [B] bool, this turn's action was valid
    prompt_width: int
    # [B, R, K] long, -1 padded: constrained decoding's allowed ids per position
    allowed: Tensor | None = None
    # filled in by the trainer
    old_logp: Tensor | None = None  # [B, R]
    ref_logp: Tensor | None = None  # [B, R]
    entropy: Tensor | None = None  # [B, R] full-vocabulary entropy of the old policy
    advantages: Tensor | None = None  # [B] per-turn advantage (after AEM)
    alpha: Tensor | None = None  # [B] AEM coefficient

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def response_width(self) -> int:
        return int(self.response_mask.shape[1])

    def to(self, device: torch.device | str) -> TurnBatch:
        """Every tensor on ``device`` (the same object when nothing moves)."""
        dev = torch.device(device)
        moved = {f.name: v.to(dev) for f in fields(self)
                 if isinstance(v := getattr(self, f.name), Tensor) and v.device != dev}
        return replace(self, **moved) if moved else self

    def select(self, idx: Tensor | slice) -> TurnBatch:
        """Rows ``idx`` (every per-row tensor indexed on dim 0; widths are kept)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v[idx] if isinstance(v, Tensor) else v
        return replace(self, **out)


def _dense(keys: Sequence) -> Tensor:
    """Dense ids in order of first appearance."""
    table: dict = {}
    return torch.tensor([table.setdefault(k, len(table)) for k in keys], dtype=torch.long)


def anchor_of(rec: TurnRecord) -> str:
    """GiGPO's anchor state: the raw env observation the turn acted on (no history, no template). The
    row's ``info`` describes the state *after* the turn, so it is not used here."""
    return str(rec.observation)


def collate(records: Sequence[TurnRecord], pad_id: int, max_prompt: int | None = None,
            max_response: int | None = None) -> TurnBatch:
    """Stack records into a ``TurnBatch``. Rows without response tokens keep an all-zero mask (no
    gradient, excluded from AEM). Prompts longer than ``max_prompt`` keep their last tokens."""
    if not records:
        raise ValueError("cannot collate an empty list of turn records")
    prompts, responses = [], []
    for r in records:
        if r.prompt_ids is None or r.response_ids is None:
            raise ValueError(f"turn {r.traj_uid}/{r.turn_idx} has no token ids; "
                             "the trainer needs a model policy")
        p = list(r.prompt_ids)[-max_prompt:] if max_prompt else list(r.prompt_ids)
        q = list(r.response_ids)[:max_response] if max_response else list(r.response_ids)
        prompts.append(p)
        responses.append(q)
    b = len(records)
    pw = max(1, max(len(p) for p in prompts))
    rw = max(1, max(len(q) for q in responses))
    ids = torch.full((b, pw + rw), pad_id, dtype=torch.long)
    attn = torch.zeros((b, pw + rw), dtype=torch.long)
    rmask = torch.zeros((b, rw), dtype=torch.float32)
    for i, (p, q) in enumerate(zip(prompts, responses, strict=True)):
        if p:
            ids[i, pw - len(p):pw] = torch.tensor(p)
            attn[i, pw - len(p):pw] = 1
        if q:
            ids[i, pw:pw + len(q)] = torch.tensor(q)
            attn[i, pw:pw + len(q)] = 1
            rmask[i, :len(q)] = 1.0
    env_r = [float(r.info.get("env_reward", r.reward)) for r in records]
    return TurnBatch(
        input_ids=ids, attention_mask=attn, response_mask=rmask,
        group=_dense([r.group_uid for r in records]),
        traj=_dense([(r.group_uid, r.traj_uid) for r in records]),
        turn=torch.tensor([r.turn_idx for r in records], dtype=torch.long),
        reward=torch.tensor([float(r.reward) for r in records]),
        env_reward=torch.tensor(env_r),
        step_group=_dense([(r.group_uid, anchor_of(r)) for r in records]),
        won=torch.tensor([bool(r.won) for r in records]),
        valid=torch.tensor([bool(r.is_action_valid) for r in records]),
        prompt_width=pw,
        allowed=allowed_tensor([r.allowed_token_ids for r in records], rw),
    )
