"""``VLLMPolicy``: vLLM's offline engine (``vllm.LLM``). Needs CUDA and the ``vllm`` extra
(``pip install -e '.[vllm]'``); importing this module works without them, building the policy does not.

* Prompts go through the tokenizer's chat template (``aem_gym.agents.tiny.load_tokenizer``, which avoids the
  transformers-5 ``Qwen2Tokenizer`` trap for custom tokenizers) and reach vLLM as token ids, so
  ``prompt_ids`` are exactly what the model saw.
* ``logprobs`` are the sampled tokens' (``SamplingParams(logprobs=0)``). The engine is started with
  ``logprobs_mode="processed_logprobs"`` so they are taken after temperature, like ``HFPolicy``'s.
* Full-vocabulary entropies need the whole distribution per token (``logprobs=-1``, engine
  ``max_logprobs=-1``): expensive, so off unless ``entropies=True``. The RL trainer recomputes log-probs
  and entropies in its own old-policy pass, so rollouts do not need them.
"""

from __future__ import annotations

import math
from typing import Any

from aem_gym.agents.policy import register_policy
from aem_gym.agents.types import Generation, GenerationRequest, Usage


def vllm_available() -> bool:
    try:
        import torch
        import vllm  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


class VLLMPolicy:
    def __init__(self, path: str, seed: int = 0, entropies: bool = False, gpu_memory_utilization: float = 0.85,
                 max_model_len: int | None = None, **engine_kw: Any):
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError("VLLMPolicy needs vLLM: pip install -e '.[vllm]' (on a machine with CUDA)") from e
        from aem_gym.agents.tiny import load_tokenizer

        self.tokenizer = load_tokenizer(path)
        self.entropies = entropies
        kw: dict[str, Any] = {"model": path, "seed": seed, "gpu_memory_utilization": gpu_memory_utilization,
                              "skip_tokenizer_init": False, "logprobs_mode": "processed_logprobs", **engine_kw}
        if max_model_len:
            kw["max_model_len"] = max_model_len
        if entropies:
            kw["max_logprobs"] = -1
        self.llm = LLM(**kw)

    def _params(self, req: GenerationRequest) -> Any:
        from vllm import SamplingParams as VSP

        s = req.sampling
        if s.constrain:
            raise ValueError("the vLLM backend does not implement sampling.constrain (agents.constrained); "
                             "use the hf backend for constrained decoding")
        return VSP(max_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p,
                   top_k=s.top_k if s.top_k > 0 else -1, stop=list(s.stop) or None, seed=s.seed,
                   include_stop_str_in_output=s.include_stop_str_in_output, logprobs=-1 if self.entropies else 0)

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        from vllm.inputs import TokensPrompt

        prompts = [self.tokenizer.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False)
                   for r in requests]
        ids = [list(self.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=i) for i in ids],
                                 [self._params(r) for r in requests], use_tqdm=False)
        gens = []
        for pid, out in zip(ids, outs, strict=True):
            c = out.outputs[0]
            toks = list(c.token_ids)
            lps, ents = None, None
            if c.logprobs is not None:
                lps = [float(step[t].logprob) for t, step in zip(toks, c.logprobs, strict=True)]
                if self.entropies:
                    ents = [-sum(math.exp(v.logprob) * v.logprob for v in step.values() if v.logprob > -math.inf)
                            for step in c.logprobs]
            gens.append(Generation(text=c.text, finish_reason="length" if c.finish_reason == "length" else "stop",
                                   usage=Usage(len(pid), len(toks)), prompt_ids=pid, response_ids=toks,
                                   logprobs=lps, entropies=ents))
        return gens

    def close(self) -> None:
        self.llm = None


@register_policy("vllm")
def _make_vllm(path: str, **kw: Any) -> VLLMPolicy:
    if not path:
        raise ValueError("vllm: needs a model directory, e.g. 'vllm:Qwen2.5-0.5B-Instruct'")
    return VLLMPolicy(path, **kw)
