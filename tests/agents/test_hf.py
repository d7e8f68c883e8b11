from __future__ import annotations

import math

import pytest
import torch

from aem_gym.agents import GenerationRequest, SamplingParams


def reqs(n=3, **sp):
    prompts = ["look", "You are in the hall. Exits: north, east. " * 3, "go north " * 9]
    return [GenerationRequest([{"role": "user", "content": prompts[i % 3]}],
                              SamplingParams(**{"max_new_tokens": 12, "seed": i, **sp})) for i in range(n)]


def teacher_forced(policy, g):
    ids = torch.tensor([g.prompt_ids + g.response_ids])
    with torch.no_grad():
        logp = torch.log_softmax(policy.model(ids).logits[0].float(), -1)
    P = len(g.prompt_ids)
    rows = logp[P - 1: P - 1 + len(g.response_ids)]
    picked = rows.gather(-1, torch.tensor(g.response_ids)[:, None]).squeeze(-1)
    return picked, -(rows.exp() * rows).sum(-1), rows


def test_left_padded_batch_stats_match_a_full_forward(tiny_policy):
    gens = tiny_policy.generate(reqs(3))
    assert len({len(g.prompt_ids) for g in gens}) == 3  # really padded
    for g in gens:
        assert len(g.response_ids) == len(g.logprobs) == len(g.entropies) == g.usage.completion_tokens
        assert g.usage.prompt_tokens == len(g.prompt_ids)
        lp, ent, _ = teacher_forced(tiny_policy, g)
        assert torch.allclose(lp, torch.tensor(g.logprobs), atol=1e-4)
        assert torch.allclose(ent, torch.tensor(g.entropies), atol=1e-4)
        assert all(0 <= e <= math.log(tiny_policy.model.config.vocab_size) + 1e-4 for e in g.entropies)
        assert g.mean_entropy() == pytest.approx(sum(g.entropies) / len(g.entropies))


def test_temperature_statistics_are_of_the_tempered_distribution(tiny_policy):
    g = tiny_policy.generate(reqs(1, temperature=0.5))[0]
    _, _, rows = teacher_forced(tiny_policy, g)
    tempered = torch.log_softmax(rows / 0.5, -1)  # rows are log-probs: softmax(logp/T) == softmax(logits/T)
    lp = tempered.gather(-1, torch.tensor(g.response_ids)[:, None]).squeeze(-1)
    assert torch.allclose(lp, torch.tensor(g.logprobs), atol=1e-4)
    assert torch.allclose(-(tempered.exp() * tempered).sum(-1), torch.tensor(g.entropies), atol=1e-4)


def test_seeded_determinism_and_seed_sensitivity(tiny_policy):
    a, b = tiny_policy.generate(reqs(3)), tiny_policy.generate(reqs(3))
    assert [g.response_ids for g in a] == [g.response_ids for g in b]
    c = tiny_policy.generate([GenerationRequest(r.messages, SamplingParams(max_new_tokens=12, seed=100 + i))
                              for i, r in enumerate(reqs(3))])
    assert [g.response_ids for g in a] != [g.response_ids for g in c]


def test_greedy_and_top_k_one_agree(tiny_policy):
    greedy = tiny_policy.generate(reqs(2, temperature=0.0))
    topk1 = tiny_policy.generate(reqs(2, top_k=1))
    assert [g.response_ids for g in greedy] == [g.response_ids for g in topk1]
    for g in greedy:
        _, _, rows = teacher_forced(tiny_policy, g)
        assert g.response_ids == rows.argmax(-1).tolist()


def test_top_p_restricts_to_the_nucleus(tiny_policy):
    g = tiny_policy.generate(reqs(1, top_p=0.05, max_new_tokens=8))[0]
    _, _, rows = teacher_forced(tiny_policy, g)
    for row, tok in zip(rows, g.response_ids, strict=True):
        srt, order = row.sort(descending=True)
        keep = order[: int(((srt.exp().cumsum(0) - srt.exp()) < 0.05).sum())]
        assert tok in keep.tolist()


def test_lengths_stops_and_mixed_sampling_in_one_call(tiny_policy):
    mixed = [GenerationRequest([{"role": "user", "content": "hi"}],
                               SamplingParams(max_new_tokens=n, temperature=t, seed=1))
             for n, t in [(0, 1.0), (3, 1.0), (7, 0.0)]]
    gens = tiny_policy.generate(mixed)
    assert [len(g.response_ids) for g in gens] == [0, 3, 7]
    assert gens[0].text == "" and gens[1].finish_reason == "length"
    free = tiny_policy.generate(reqs(1, max_new_tokens=30, temperature=0.0))[0]
    assert len(free.text) > 2
    stop = free.text[1:3]
    cut = tiny_policy.generate(reqs(1, max_new_tokens=30, temperature=0.0, stop=[stop]))[0]
    assert cut.finish_reason == "stop" and stop not in cut.text and free.text.startswith(cut.text)
    kept = tiny_policy.generate(reqs(1, max_new_tokens=30, temperature=0.0, stop=[stop],
                                     include_stop_str_in_output=True))[0]
    assert kept.text.endswith(stop) and kept.text == cut.text + stop


def test_end_of_turn_token_ends_a_generation(tiny_policy, monkeypatch):
    free = tiny_policy.generate(reqs(1, max_new_tokens=12, temperature=0.0))[0]
    marker = free.response_ids[3]
    first = free.response_ids.index(marker)
    monkeypatch.setattr(tiny_policy, "stop_ids", tiny_policy.stop_ids | {marker})
    g = tiny_policy.generate(reqs(1, max_new_tokens=12, temperature=0.0))[0]
    assert g.finish_reason == "stop" and g.response_ids == free.response_ids[: first + 1]
    assert tiny_policy.tokenizer.eos_token_id in tiny_policy.stop_ids
