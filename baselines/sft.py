"""SFT warm start on noisy-oracle demonstrations.

A tiny random-init model cannot find a single success by sampling, so the CPU recipe first imitates a
*noisy* oracle: each turn takes the env's oracle action (``env.unwrapped.oracle_action()``) or, with
probability ``noise``, a random admissible action. The policy learns the answer format and a decent but
imperfect strategy, leaving room for RL to raise success. Prompts are built with the same per-env prompt
builder as the rollout engine (``agents.prompts``), so SFT and RL see identical inputs.

The loss is the mean token cross-entropy over the response tokens (``<action>…</action>`` + end of turn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from baselines.config import TrainConfig


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
    from agents.prompts import PromptState, format_action, prompt_builder

    env = aem_envs.make(cfg.env.id, split=cfg.env.train_split, **cfg.env.env_kwargs)
    builder = prompt_builder(cfg.env.id, k=cfg.env.history)
    rng = np.random.default_rng(seed)
    eos = tokenizer.eos_token_id
    max_turns = cfg.sft.max_turns or cfg.env.max_turns
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
                action = env.unwrapped.oracle_action()
                if action is None or (acts and rng.random() < cfg.sft.noise):
                    action = acts[int(rng.integers(len(acts)))] if acts else "look"
                prompt = _encode(tokenizer, builder.build(state), cfg.model.max_prompt_tokens)
                resp = tokenizer(format_action(action), add_special_tokens=False)["input_ids"] + [eos]
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
    model.train()
    losses = []
    bs = cfg.sft.batch_size
    for _ in range(cfg.sft.epochs):
        order = torch.randperm(len(demos), generator=generator).tolist()
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
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                                     labels[:, 1:].reshape(-1), ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            tot, n = tot + float(loss.detach()), n + 1
        losses.append(tot / max(n, 1))
    model.eval()
    return losses


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
