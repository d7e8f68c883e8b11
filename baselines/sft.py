"""SFT warm start on noisy-oracle demonstrations.

A tiny random-init model cannot find a single success by sampling, so the CPU recipe first imitates a
*noisy* oracle: each turn takes the env's oracle action (``env.unwrapped.oracle_action()``) or, with
probability ``noise``, a random admissible action. The policy learns the answer format and a decent but
imperfect strategy, leaving room for RL to raise success. With ``sft.label="oracle"`` the noisy action is
still *executed* but the demonstration's label is the oracle's action in that state (DAgger-style corrective
labels: the model sees off-path states and how to recover from them, instead of imitating the noise).
Prompts are built with the same per-env prompt builder as the rollout engine (``aem_gym.agents.prompts``), so SFT
and RL see identical inputs.

The loss is the mean token cross-entropy over the response tokens (``<action>…</action>`` + end of turn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from aem_gym.baselines.config import TrainConfig


@dataclass
class Demo:
    prompt_ids: list[int]
    response_ids: list[int]
    won: bool


def _encode(tokenizer, messages, max_prompt: int) -> list[int]:
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return list(ids)[-max_prompt:]


def collect_demos(cfg: TrainConfig, tokenizer, n_episodes: int, seed: int, progress: bool = True) -> list[Demo]:
    """Play ``n_episodes`` on the training split with the noisy oracle; one ``Demo`` per turn."""
    import aem_envs
    from aem_gym.agents.prompts import PromptState, prompt_builder, reply_text

    env = aem_envs.make(cfg.env.id, split=cfg.env.train_split, **cfg.env.env_kwargs)
    builder = prompt_builder(cfg.env.id, k=cfg.env.history)
    rng = np.random.default_rng(seed)
    eos = tokenizer.eos_token_id
    max_turns = cfg.sft.max_turns or cfg.env.max_turns
    if cfg.sft.label not in ("taken", "oracle"):
        raise ValueError(f"sft.label must be 'taken' or 'oracle', got {cfg.sft.label!r}")
    demos: list[Demo] = []
    it = range(n_episodes)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="sft demos", leave=False)
    try:
        for ep in it:
            obs, info = env.reset(seed=int(seed * 100_003 + ep))
            state = PromptState(cfg.env.id, task=obs, observation=obs, admissible_actions=info.get("admissible_actions"))
            episode: list[Demo] = []
            for turn in range(max_turns):
                acts = info.get("admissible_actions") or []
                best = action = env.unwrapped.oracle_action()
                if action is None or (acts and rng.random() < cfg.sft.noise):
                    action = acts[int(rng.integers(len(acts)))] if acts else "look"
                label = best if cfg.sft.label == "oracle" and best is not None else action
                prompt = _encode(tokenizer, builder.build(state), cfg.model.max_prompt_tokens)
                resp = tokenizer(reply_text(label), add_special_tokens=False)["input_ids"] + [eos]
                episode.append(Demo(prompt, list(resp), False))
                obs, _, term, trunc, info = env.step(action)
                state.history.append((action, obs))
                state.observation, state.turn = obs, turn + 1
                state.admissible_actions = info.get("admissible_actions")
                if term or trunc:
                    break
            won = bool(info.get("won", False))
            for d in episode:
                d.won = won
            demos.extend(episode)
    finally:
        env.close()
    return demos


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


def response_and_prompt_loss(logits: torch.Tensor, ids: torch.Tensor, attn: torch.Tensor, labels: torch.Tensor,
                             prompt_weight: float) -> torch.Tensor:
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
    cosine decay to 10% (a tiny model trained from scratch needs a high peak lr, and the decay lets it settle)."""
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
