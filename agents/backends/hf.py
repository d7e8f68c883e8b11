"""``HFPolicy``: batched sampling from a transformers causal LM, with token ids, log-probs and entropies.

Generation is a hand-written decode loop over the model's KV cache (left padding, explicit position ids),
because it must return per-token statistics computed from the very logits the token was sampled from:

* ``logprobs[i]`` = log p(token_i) and ``entropies[i]`` = -Σ_v p(v) log p(v) (nats, over the *full*
  vocabulary, including padded ids) where ``p = softmax(logits / temperature)``: the temperature-adjusted
  distribution, **before** top-k/top-p truncation. With ``top_k=0, top_p=1`` (the RL setting) that is
  exactly the distribution the token was drawn from; with truncation the token was drawn from the
  renormalised truncated distribution. ``temperature == 0`` means greedy, and the statistics are those of
  the untempered distribution (T = 1).
* ``sampling.constrain="admissible"`` masks the logits to replies naming an admissible action
  (``aem_gym.agents.constrained``); the statistics are then those of the masked distribution, and the
  allowed ids of every position come back in ``allowed_token_ids``.
* ``response_ids`` include the end-of-turn token when the model emitted one (the trainer must learn to
  stop); ``text`` is decoded without special tokens.

Determinism: one ``torch.Generator`` per batch, seeded from the requests' ``sampling.seed`` values when all
are set (the rollout engine sets them), else the policy's own generator seeded at construction. The same
requests in the same order give the same generations on the same device.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aem_gym.agents.policy import register_policy
from aem_gym.agents.types import Generation, GenerationRequest, SamplingParams, Usage


def encode_prompt(tokenizer: Any, messages: list[dict[str, str]],
                  max_prompt_tokens: int | None = None) -> list[int]:
    """Chat messages -> prompt token ids (the chat template with the generation prompt), keeping the last
    ``max_prompt_tokens``. The one function for RL rollouts and SFT demonstrations: both see the same ids."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if max_prompt_tokens is not None and len(ids) > max_prompt_tokens:
        ids = ids[-max_prompt_tokens:]
    return list(ids)


def _seed_from(seeds: Sequence[int]) -> int:
    state = np.random.SeedSequence([int(s) % (1 << 63) for s in seeds]).generate_state(1, np.uint64)
    return int(state[0] >> 1)


class HFPolicy:
    """A transformers causal LM as a ``Policy``. Pass a loaded ``model``/``tokenizer`` (e.g. the trainer's
    live model) or use ``HFPolicy.from_pretrained(path)``."""

    def __init__(self, model: Any, tokenizer: Any, device: str | torch.device | None = None,
                 max_batch_size: int = 64, seed: int = 0, max_prompt_tokens: int | None = None):
        if device is not None:
            model = model.to(device)
        self.model, self.tokenizer = model, tokenizer
        self.device = next(model.parameters()).device
        self.max_batch_size, self.max_prompt_tokens = max_batch_size, max_prompt_tokens
        self._gen = torch.Generator(device=self.device).manual_seed(seed)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if self.pad_id is None:
            raise ValueError("the tokenizer has neither a pad token nor an eos token")
        self.stop_ids = self._stop_ids()

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | None = None, dtype: str | None = None,
                        **kw: Any) -> HFPolicy:
        from transformers import AutoModelForCausalLM

        from aem_gym.agents.tiny import load_tokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, dtype) if dtype else None
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype)
        return cls(model, load_tokenizer(path), device=device, **kw)

    def _stop_ids(self) -> set[int]:
        ids: set[int] = set()
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        for x in [self.tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])]:
            if x is not None:
                ids.add(int(x))
        for t in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
            tid = self.tokenizer.convert_tokens_to_ids(t)
            if isinstance(tid, int) and tid >= 0 and tid != self.tokenizer.unk_token_id:
                ids.add(tid)
        return ids

    # -- prompts --------------------------------------------------------------------------------------
    def encode_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        return encode_prompt(self.tokenizer, messages, self.max_prompt_tokens)

    # -- Policy ---------------------------------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        out: list[Generation | None] = [None] * len(requests)
        # One decode loop per distinct (temperature, top-k, top-p): they shape the whole batch's sampling.
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            s = r.sampling
            groups[(float(s.temperature), int(s.top_k), float(s.top_p))].append(i)
        for idx in groups.values():
            for start in range(0, len(idx), self.max_batch_size):
                chunk = idx[start:start + self.max_batch_size]
                gens = self._generate_batch([requests[i] for i in chunk])
                for i, g in zip(chunk, gens, strict=True):
                    out[i] = g
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.model = None

    # -- decoding -------------------------------------------------------------------------------------
    def _generator_for(self, reqs: list[GenerationRequest]) -> torch.Generator:
        seeds = [r.sampling.seed for r in reqs]
        if all(s is not None for s in seeds):
            return torch.Generator(device=self.device).manual_seed(_seed_from(seeds))  # type: ignore[arg-type]
        return self._gen

    @torch.inference_mode()
    def _generate_batch(self, reqs: list[GenerationRequest]) -> list[Generation]:
        sp: SamplingParams = reqs[0].sampling
        prompts = [self.encode_prompt(r.messages) for r in reqs]
        B, L = len(reqs), max(len(p) for p in prompts)
        ids = torch.full((B, L), self.pad_id, dtype=torch.long)
        mask = torch.zeros((B, L), dtype=torch.long)
        for b, p in enumerate(prompts):
            ids[b, L - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[b, L - len(p):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        # A reply never runs past the model's context (a 4,096-token eval budget on a small model).
        room = int(getattr(self.model.config, "max_position_embeddings", 0) or 0) - L
        max_new = [max(0, min(r.sampling.max_new_tokens, room) if room > 0 else r.sampling.max_new_tokens)
                   for r in reqs]
        gen = self._generator_for(reqs)
        was_training = self.model.training
        self.model.eval()
        try:
            # logits_to_keep=1: the prefill needs only the last position's logits (not B×L×V of them).
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                             logits_to_keep=1)
            past, logits = out.past_key_values, out.logits[:, -1, :]
            resp: list[list[int]] = [[] for _ in range(B)]
            lps: list[list[float]] = [[] for _ in range(B)]
            ents: list[list[float]] = [[] for _ in range(B)]
            tries = self._tries(reqs)
            n_top = max(r.sampling.top_logprobs for r in reqs)
            tops: list[list[list[tuple[int, float]]]] = [[] for _ in range(B)]
            allowed: list[list[list[int]]] = [[] for _ in range(B)]
            finish = ["length"] * B
            done = [m == 0 for m in max_new]
            next_pos = pos[:, -1:] + 1
            for _ in range(max(max_new, default=0)):
                if all(done):
                    break
                logits = logits.float()
                if any(tries):
                    logits = self._constrain(logits, tries, resp, done, allowed)
                tok, lp, ent, logp = self._sample(logits, sp, gen)
                tok_l, lp_l, ent_l = tok.tolist(), lp.tolist(), ent.tolist()
                top_l = _top(logp, n_top)
                for b in range(B):
                    if done[b]:
                        continue
                    resp[b].append(tok_l[b])
                    lps[b].append(lp_l[b])
                    ents[b].append(ent_l[b])
                    if n_top:
                        tops[b].append(top_l[b][: reqs[b].sampling.top_logprobs])
                    if tok_l[b] in self.stop_ids or self._hit_stop(resp[b], reqs[b].sampling.stop):
                        done[b], finish[b] = True, "stop"
                    elif len(resp[b]) >= max_new[b]:
                        done[b] = True
                if all(done):
                    break
                mask = torch.cat([mask, torch.ones((B, 1), dtype=mask.dtype, device=self.device)], dim=1)
                out = self.model(input_ids=tok[:, None], attention_mask=mask, position_ids=next_pos,
                                 past_key_values=past, use_cache=True)
                past, logits, next_pos = out.past_key_values, out.logits[:, -1, :], next_pos + 1
        finally:
            self.model.train(was_training)
        gens = [self._finish(reqs[b], prompts[b], resp[b], lps[b], ents[b], finish[b]) for b in range(B)]
        for b, g in enumerate(gens):
            if tries[b] is not None:
                g.allowed_token_ids = allowed[b]
            if reqs[b].sampling.top_logprobs:
                g.top_logprobs = tops[b]
        return gens

    def _tries(self, reqs: list[GenerationRequest]) -> list[Any]:
        """One reply trie per request that asks for ``constrain="admissible"`` (agents.constrained)."""
        from aem_gym.agents.constrained import admissible_trie, check_constrain

        out = []
        for r in reqs:
            check_constrain(r.sampling.constrain)
            acts = r.context.get("admissible_actions") if r.sampling.constrain else None
            out.append(admissible_trie(self.tokenizer, acts, self.tokenizer.eos_token_id) if acts else None)
        return out

    @staticmethod
    def _constrain(logits: torch.Tensor, tries: list[Any], resp: list[list[int]], done: list[bool],
                   allowed: list[list[list[int]]]) -> torch.Tensor:
        """Mask each constrained row to the ids that continue an admissible reply; record them."""
        from aem_gym.agents.constrained import MASKED

        out = logits.clone()
        for b, trie in enumerate(tries):
            if trie is None or done[b]:
                continue
            ok = trie.allowed(resp[b]) or []
            allowed[b].append(ok)
            if ok:
                keep = out[b, ok].clone()
                out[b].fill_(MASKED)
                out[b, ok] = keep
        return out

    def _sample(self, logits: torch.Tensor, sp: SamplingParams, gen: torch.Generator):
        greedy = sp.temperature <= 0
        logp = torch.log_softmax(logits / (1.0 if greedy else sp.temperature), dim=-1)
        ent = -(logp.exp() * logp).sum(-1)  # full-vocabulary entropy of the tempered distribution, nats
        if greedy:
            tok = logp.argmax(-1)
        else:
            trunc = logp
            if sp.top_k and sp.top_k < logp.shape[-1]:
                kth = logp.topk(sp.top_k, dim=-1).values[:, -1:]
                trunc = trunc.masked_fill(trunc < kth, float("-inf"))
            if sp.top_p < 1.0:
                srt, order = trunc.sort(dim=-1, descending=True)
                cum = srt.exp().cumsum(-1)
                drop = (cum - srt.exp()) >= sp.top_p  # keep the smallest prefix reaching top_p
                trunc = trunc.scatter(-1, order, srt.masked_fill(drop, float("-inf")))
            tok = torch.multinomial(trunc.exp(), 1, generator=gen).squeeze(-1)
        return tok, logp.gather(-1, tok[:, None]).squeeze(-1), ent, logp

    def _hit_stop(self, resp: list[int], stop: list[str]) -> bool:
        if not stop:
            return False
        text = self.tokenizer.decode(resp, skip_special_tokens=True)
        return any(s and s in text for s in stop)

    def _finish(self, req: GenerationRequest, prompt: list[int], resp: list[int], lps: list[float],
                ents: list[float], finish: str) -> Generation:
        text = self.tokenizer.decode(resp, skip_special_tokens=True)
        cuts = [(text.find(s), s) for s in req.sampling.stop if s and s in text]
        if cuts:
            at, s = min(cuts)
            text = text[: at + (len(s) if req.sampling.include_stop_str_in_output else 0)]
        return Generation(text=text, finish_reason=finish,  # type: ignore[arg-type]
                          usage=Usage(prompt_tokens=len(prompt), completion_tokens=len(resp)),
                          prompt_ids=prompt, response_ids=resp, logprobs=lps, entropies=ents)


def _top(logp: torch.Tensor, n: int) -> list[list[tuple[int, float]]]:
    """The ``n`` most likely (token id, log-prob) pairs of each row (OpenAI's ``top_logprobs``)."""
    if n <= 0:
        return []
    vals, idx = logp.topk(min(n, logp.shape[-1]), dim=-1)
    return [list(zip(i, v, strict=True)) for i, v in zip(idx.tolist(), vals.tolist(), strict=True)]


@register_policy("hf")
def _make_hf(path: str, **kw: Any) -> HFPolicy:
    if not path:
        raise ValueError("hf: needs a model directory, e.g. 'hf:./runs/tiny'")
    return HFPolicy.from_pretrained(path, **kw)
