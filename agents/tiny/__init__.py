"""Tiny causal LMs for CPU tests and CPU recipes, built offline from in-repo text.

``build_tiny_model(dir)`` trains a byte-level BPE tokenizer (``tokenizers``) on ``corpus.txt`` (env
observations, prompts and actions; regenerate with ``python -m aem_gym.agents.tiny.corpus``), builds a
randomly initialised Qwen2-style model from a config, and saves both with ``save_pretrained`` so the
directory loads like any HF model (``hf:DIR``). Byte-level BPE never produces unknown tokens and decodes
exactly, so ``<action>…</action>`` survives a round trip; ``<action>``/``</action>`` are single tokens so a
tiny model learns the format quickly.

Loading: use ``load_tokenizer(dir)``. In transformers 5.x ``AutoTokenizer`` maps a custom tokenizer saved
next to a ``qwen2`` config to ``Qwen2Tokenizer``, which returns *empty ids* for it; ``load_tokenizer``
detects that and loads ``PreTrainedTokenizerFast`` instead.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).with_name("corpus.txt")
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
ACTION_TOKENS = ["<action>", "</action>"]
# Qwen-style ChatML, so the same prompts work with real Qwen checkpoints.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
MARKER = "aem_tiny.json"  # what build_tiny_model used, for humans and for reproducibility checks


@dataclass
class TinyConfig:
    """Model and tokenizer sizes; the defaults are the CPU recipe's (~0.6 M parameters)."""

    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    num_kv_heads: int = 1
    intermediate_size: int = 512
    vocab_size: int = 1024  # BPE target; the model's vocabulary is the tokenizer's, rounded up to 64
    max_position_embeddings: int = 4096
    seed: int = 0


def train_tokenizer(corpus: Path | str = CORPUS, vocab_size: int = 1024):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with ChatML special tokens and a chat template."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    text = Path(corpus).read_text(encoding="utf-8")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # One "document" per paragraph keeps merges from crossing unrelated examples.
    tok.train_from_iterator([p for p in text.split("\n\n") if p.strip()], trainer=trainer)
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in ACTION_TOKENS])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None, bos_token=None)
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


# Classes a tokenizer saved from a bare ``tokenizers`` object declares in tokenizer_config.json: its
# tokenizer.json is then the whole tokenizer. AutoTokenizer still maps a ``qwen2`` config to Qwen2Tokenizer,
# which splits digits and spaces its own way (a checkpoint saved by the trainer, without MARKER, would then
# be prompted with ids it was never trained on).
_BARE_CLASSES = ("TokenizersBackend", "PreTrainedTokenizerFast")


def _declared_class(path: Path | str) -> str | None:
    try:
        config = json.loads((Path(path) / "tokenizer_config.json").read_text(encoding="utf-8"))
        return config.get("tokenizer_class")
    except (OSError, ValueError, AttributeError):
        return None


def load_tokenizer(path: Path | str):
    """``AutoTokenizer``, unless the directory holds a bare ``tokenizers`` tokenizer (MARKER, or a declared
    class in ``_BARE_CLASSES``) or AutoTokenizer's class yields empty ids (see the module docstring); then
    ``PreTrainedTokenizerFast``, which reads tokenizer.json as saved. Padding side is left (generation)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok = None
    if not (Path(path) / MARKER).exists() and _declared_class(path) not in _BARE_CLASSES:
        try:
            tok = AutoTokenizer.from_pretrained(str(path))
        except (OSError, ValueError, KeyError, TypeError):
            tok = None
    if tok is None or not tok("look around", add_special_tokens=False)["input_ids"]:
        tok = PreTrainedTokenizerFast.from_pretrained(str(path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def build_tiny_model(out_dir: Path | str, config: TinyConfig | None = None, corpus: Path | str = CORPUS,
                     **overrides: Any) -> Path:
    """Build, save and return ``out_dir``: a random-init Qwen2 causal LM plus its tokenizer.

    ``overrides`` replace ``TinyConfig`` fields (``build_tiny_model(d, num_layers=4)``). Deterministic:
    the same config and corpus give the same weights and tokenizer. Does not touch torch's global RNG.
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = TinyConfig(**{**asdict(config or TinyConfig()), **overrides})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(corpus, cfg.vocab_size)
    vocab = -(-len(tok) // 64) * 64
    mcfg = Qwen2Config(
        vocab_size=vocab, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads, max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        bos_token_id=None, use_cache=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = Qwen2ForCausalLM(mcfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    meta = {"tiny_config": asdict(cfg), "corpus_chars": len(Path(corpus).read_text(encoding="utf-8"))}
    (out / MARKER).write_text(json.dumps(meta, indent=1) + "\n")
    return out


def load_tiny_model(path: Path | str):
    """``(model, tokenizer)`` from a directory written by ``build_tiny_model`` (or any HF model dir)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path)), load_tokenizer(path)


__all__ = ["CHAT_TEMPLATE", "CORPUS", "TinyConfig", "build_tiny_model", "load_tiny_model", "load_tokenizer",
           "train_tokenizer"]
