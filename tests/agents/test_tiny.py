from __future__ import annotations

import hashlib
import json

from aem_gym.agents.tiny import ACTION_TOKENS, build_tiny_model, load_tiny_model, load_tokenizer


def _digest(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_build_is_deterministic_and_loads_like_hf(tiny_dir, tmp_path):
    again = build_tiny_model(tmp_path / "again")
    assert _digest(again) == _digest(tiny_dir)
    other = build_tiny_model(tmp_path / "other", seed=1, num_layers=3)
    assert _digest(other)["model.safetensors"] != _digest(tiny_dir)["model.safetensors"]
    assert json.loads((other / "config.json").read_text())["num_hidden_layers"] == 3
    model, tok = load_tiny_model(tiny_dir)
    assert model.config.model_type == "qwen2" and model.config.hidden_size == 128
    assert model.config.vocab_size >= len(tok) and model.config.vocab_size % 64 == 0
    assert 300_000 < sum(p.numel() for p in model.parameters()) < 2_000_000


def test_tokenizer_round_trips_and_has_a_chat_template(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    assert type(tok).__name__ != "Qwen2Tokenizer"  # the transformers-5 trap (see agents.tiny)
    text = "You see a mug 1. <action>take mug 1 from countertop 1</action> ünïcödé ✓"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids and tok.decode(ids) == text
    for t in ACTION_TOKENS:
        assert len(tok(t, add_special_tokens=False)["input_ids"]) == 1
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": "go"}]
    rendered = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert rendered == ("<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\ngo<|im_end|>\n"
                        "<|im_start|>assistant\n")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>" and tok.padding_side == "left"


def test_a_saved_checkpoint_keeps_the_tokenization_it_was_trained_with(tiny_dir, tmp_path):
    """A trainer checkpoint has no aem_tiny.json; AutoTokenizer would load it as Qwen2Tokenizer (qwen2
    config), which splits "fridge 1" differently. load_tokenizer must give the builder's ids."""
    model, tok = load_tiny_model(tiny_dir)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    text = "<action> go to fridge 1</action> On the countertop 2, you see a mug 3."
    assert load_tokenizer(tmp_path)(text)["input_ids"] == tok(text)["input_ids"]
