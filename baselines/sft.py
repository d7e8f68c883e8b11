"""SFT warm start on noisy-oracle demonstrations.

A tiny random-init model cannot find a single success by sampling, so the CPU recipe first imitates a
*noisy* oracle: each turn takes the env's oracle action (``env.unwrapped.oracle_action()``) or, with
probability ``noise``, a random admissible action. The policy learns the answer format and a decent but
imperfect strategy, leaving room for RL to raise success. With ``sft.label="oracle"`` the noisy action is
still *executed* but the demonstration's label is the oracle's action in that state (DAgger-style corrective
labels: the model sees off-path states and how to recover from them, instead of imitating the noise).
Demonstrations are episodes of the one episode loop (``aem_gym.agents.rollout``) played by a
``Demonstrator`` policy: its reply (``text``) is the executed action and its ``response_ids`` are the label,
so the loop's rows are the demonstrations. Prompts therefore come from the same builders, env stack and
``encode_prompt`` as RL rollouts: SFT and RL see identical inputs.

The loss is the mean token cross-entropy over the response tokens (``<action>…</action>`` + end of turn).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aem_gym.agents.types import Generation, GenerationRequest
from aem_gym.baselines.config import TrainConfig


@dataclass
class Demo:
    prompt_ids: list[int]
    response_ids: list[int]
    won: bool


class Demonstrator:
    """The noisy oracle as a ``Policy``: each turn it executes the oracle's action, or with probability
    ``noise`` a random admissible one, and labels the turn with the executed action (``label="taken"``) or
    the oracle's (``"oracle"``). The reply text is what the env receives; ``prompt_ids``/``response_ids``
    are the demonstration (the encoded prompt, and the label's reply tokens + end of turn). It draws from
    one stream, so run it on one episode at a time (``max_concurrent=1``): demonstrations are then a
    function of the seed only."""

    def __init__(self, tokenizer: Any, noise: float, label: str, rng: np.random.Generator,
                 max_prompt_tokens: int | None):
        if label not in ("taken", "oracle"):
            raise ValueError(f"sft.label must be 'taken' or 'oracle', got {label!r}")
        self.tokenizer, self.noise, self.label, self.rng = tokenizer, noise, label, rng
        self.max_prompt_tokens = max_prompt_tokens

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [self._one(r) for r in requests]

    def _one(self, req: GenerationRequest) -> Generation:
        from aem_gym.agents.backends.hf import encode_prompt
        from aem_gym.agents.prompts import format_action, reply_text

        acts = req.context.get("admissible_actions") or []
        best = action = req.context["oracle"]()
        if action is None or (acts and self.rng.random() < self.noise):
            action = acts[int(self.rng.integers(len(acts)))] if acts else "look"
        label = best if self.label == "oracle" and best is not None else action
        prompt = encode_prompt(self.tokenizer, req.messages, self.max_prompt_tokens)
        resp = list(self.tokenizer(reply_text(label), add_special_tokens=False)["input_ids"])
        return Generation(text=format_action(action), prompt_ids=prompt,
                          response_ids=resp + [self.tokenizer.eos_token_id])


def collect_demos(cfg: TrainConfig, tokenizer, n_episodes: int, seed: int,
                  progress: bool = True) -> list[Demo]:
    """Play ``n_episodes`` on the training split with the noisy oracle; one ``Demo`` per turn."""
    from aem_gym.agents.rollout import RolloutEngine

    policy = Demonstrator(tokenizer, cfg.sft.noise, cfg.sft.label, np.random.default_rng(seed),
                          cfg.model.max_prompt_tokens)
    engine = RolloutEngine(workers=1, history_k=cfg.env.history, progress=progress, max_concurrent=1)
    tasks = [(None, int(seed * 100_003 + ep)) for ep in range(n_episodes)]
    res = engine.run(cfg.env.id, tasks, policy, max_turns=cfg.sft.max_turns or cfg.env.max_turns,
                     env_kwargs={"split": cfg.env.train_split, **cfg.env.env_kwargs}, seed=seed, run_id="sft")
    return [Demo(list(r.prompt_ids or []), list(r.response_ids or []), bool(t.won))
            for t in res.trajectories for r in t.turns]


def sft_train(model, tokenizer, demos: list[Demo], cfg: TrainConfig, generator: torch.Generator,
              progress: bool = True) -> list[float]:
    """Train on ``demos`` for ``cfg.sft.epochs``; returns the mean loss per epoch."""
    if not demos:
        raise ValueError("no SFT demonstrations")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.sft.lr, weight_decay=0.0)
    bs = cfg.sft.batch_size
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg.sft.schedule, cfg.sft.warmup,
                                                             cfg.sft.epochs * -(-len(demos) // bs)))
    model.train()
    losses = []
    for _ in range(cfg.sft.epochs):
        order = _length_bucketed(torch.randperm(len(demos), generator=generator).tolist(), demos, bs)
        it = range(0, len(order), bs)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc="sft", leave=False)
        tot, n = 0.0, 0
        for s in it:
            chunk = [demos[i] for i in order[s:s + bs]]
            ids, attn, labels = _pack(chunk, pad)
            pos = (attn.cumsum(-1) - 1).clamp_min(0)
            logits = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=False).logits
            loss = response_and_prompt_loss(logits, ids, attn, labels, cfg.sft.prompt_loss_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tot, n = tot + float(loss.detach()), n + 1
        losses.append(tot / max(n, 1))
    model.eval()
    return losses


def response_and_prompt_loss(logits: torch.Tensor, ids: torch.Tensor, attn: torch.Tensor,
                             labels: torch.Tensor, prompt_weight: float) -> torch.Tensor:
    """Mean next-token cross-entropy over the response tokens, plus ``prompt_weight`` times the mean over the
    prompt tokens. The prompt term is ordinary language modelling of the env's own text: the observation,
    then an admissible list that repeats its names. A model trained from scratch gets ~25x more supervised
    tokens per example from it, and predicting the list is a copying task, the skill the response needs."""
    flat = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    resp = torch.nn.functional.cross_entropy(flat, labels[:, 1:].reshape(-1), ignore_index=-100)
    if not prompt_weight:
        return resp
    # prompt targets: real (non-pad) tokens after the first one, minus the response targets
    target = (attn[:, 1:].bool() & attn[:, :-1].bool() & (labels[:, 1:] == -100)).reshape(-1)
    ce = torch.nn.functional.cross_entropy(flat, ids[:, 1:].reshape(-1), reduction="none")
    return resp + prompt_weight * (ce * target).sum() / target.sum().clamp_min(1)


def lr_lambda(schedule: str, warmup: float, total: int):
    """lr multiplier per optimizer step: linear warm-up over ``warmup * total`` steps, then constant or a
    cosine decay to 10% (a tiny model trained from scratch needs a high peak lr, and the decay lets it
    settle)."""
    import math

    if schedule not in ("constant", "cosine"):
        raise ValueError(f"sft.schedule must be 'constant' or 'cosine', got {schedule!r}")
    w = int(warmup * total)

    def f(i: int) -> float:
        if i < w:
            return (i + 1) / w
        if schedule == "constant":
            return 1.0
        t = min(1.0, (i - w) / max(1, total - w))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))

    return f


def _length_bucketed(order: list[int], demos: list[Demo], bs: int, span: int = 16) -> list[int]:
    """Sort each window of ``span`` batches by prompt length, so a batch pads little; batches stay random
    across windows (the order within an epoch is still a function of the generator only)."""
    out: list[int] = []
    for s in range(0, len(order), bs * span):
        out += sorted(order[s:s + bs * span], key=lambda i: len(demos[i].prompt_ids))
    return out


def _pack(chunk: list[Demo], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-pad prompts, right-pad responses (the RL layout); labels only on response tokens."""
    pw = max(len(d.prompt_ids) for d in chunk)
    rw = max(len(d.response_ids) for d in chunk)
    b = len(chunk)
    ids = torch.full((b, pw + rw), pad, dtype=torch.long)
    attn = torch.zeros((b, pw + rw), dtype=torch.long)
    labels = torch.full((b, pw + rw), -100, dtype=torch.long)
    for i, d in enumerate(chunk):
        p, r = d.prompt_ids, d.response_ids
        ids[i, pw - len(p):pw] = torch.tensor(p)
        ids[i, pw:pw + len(r)] = torch.tensor(r)
        attn[i, pw - len(p):pw + len(r)] = 1
        labels[i, pw:pw + len(r)] = torch.tensor(r)
    return ids, attn, labels
