"""Regenerate ``agents/tiny/corpus.txt``, the text the tiny tokenizer is trained on.

    python -m aem_gym.agents.tiny.corpus [--episodes 16]

It renders, with the real prompt builders, episodes played by the oracle and a random agent in the
``CORPUS_ENVS`` (built-in envs only, so the text never depends on which plugins are installed), plus a few
paragraphs of each family's vocabulary (so the BPE merges cover the words the household/webshop/SWE envs
use even before they are installed). The file is checked in so the tokenizer does not depend on what is
installed; regenerating it changes every tiny model built afterwards.

The checked-in ``corpus.txt`` is older than this list: it was rendered when the list also began with the
example plugin's ``example/TreasureHunt-v0``, and its text stays as it is because every tiny checkpoint,
the released baselines included, uses a tokenizer trained on it. Regenerating therefore writes a different
file: do it only together with new checkpoints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from aem_gym.agents.prompts import PromptState, format_action, prompt_builder
from aem_gym.agents.tiny import CORPUS

# The envs whose episodes feed the corpus: the tiny CPU recipe's targets, built into aem_envs, not every
# registered env (the upstream adapters start JVMs and browsers, and plugins come and go: either would tie
# the tokenizer to what happens to be installed).
CORPUS_ENVS = ["aem/Household-v0", "aem/WebShop-v0"]
# Episodes per env where the default (--episodes) is not enough. The household's object and receptacle names
# must each become one BPE token: the CPU recipe's tiny model has to copy them from the admissible list, and
# copying "butterknife" as 9 byte-pair pieces is what kept it at 0% success with the first corpus.
EPISODES = {"aem/Household-v0": 150}

# Family vocabulary: objects, receptacles, verbs and phrasings of ALFWorld/WebShop/SWE-style tasks.
VOCABULARY = [
    "Your task is to: put a clean mug in coffeemachine. You are in the middle of a room. Looking quickly "
    "around you, you see a cabinet 1, a cabinet 2, a countertop 1, a drawer 1, a fridge 1, a microwave 1, "
    "a sinkbasin 1, a stoveburner 1, a shelf 1, a desk 1, a bed 1, a sofa 1, a garbagecan 1.",
    "go to countertop 1. take mug 1 from countertop 1. clean mug 1 with sinkbasin 1. heat egg 1 with "
    "microwave 1. cool apple 1 with fridge 1. open fridge 1. close drawer 1. put mug 1 in/on "
    "coffeemachine 1. use desklamp 1. examine book 1. look. inventory. You pick up the mug 1 from the "
    "countertop 1. Nothing happens. You arrive at countertop 1. On the countertop 1, you see a knife 1, "
    "a plate 2.",
    "pick two cellphone and place them in bed. look at alarmclock under the desklamp. find a hot potato and "
    "put it in garbagecan. tomato lettuce bread butterknife spatula pan pot kettle towel soapbar "
    "spraybottle candle vase pillow keychain creditcard remotecontrol laptop pencil pen statue watch.",
    "WebShop Instruction: i need a long lasting 6.76 fl oz bottle of l'eau d'issey, and price lower than "
    "100.00 dollars. search[long lasting perfume 6.76 fl oz] click[B07HRFSNL4] click[size] click[color] "
    "click[Buy Now] click[Back to Search] click[Next >] click[< Prev] Price: $12.99 Rating: N.A. "
    "Description Features Reviews Attributes men women shoes shirt dress color black white blue red size "
    "small medium large x-large pack of 2 gluten free organic wireless bluetooth headphones.",
    "SWE: The issue: calling parse() with an empty string raises IndexError instead of ValueError. "
    "ls src/ cat src/parser.py grep -n 'def parse' -r src sed -n 10,40p src/parser.py python -m pytest "
    "tests/test_parser.py -x -q edit src/parser.py def parse(text: str) -> list[str]: if not text: raise "
    "ValueError('empty input') return text.split() FAILED tests/test_parser.py::test_empty - IndexError "
    "1 passed, 1 failed git diff submit Traceback (most recent call last): File line AssertionError None "
    "True False return import self class for in if else elif while try except with as from def lambda.",
]


def _play(env_id: str, episodes: int, rng: np.random.Generator) -> list[str]:
    import aem_envs

    out = []
    builder = prompt_builder(env_id, k=2)
    for ep in range(episodes):
        env = aem_envs.make(env_id)
        try:
            obs, info = env.reset(seed=ep)
            task, history = obs, []
            oracle = getattr(env.unwrapped, "oracle_action", lambda: None)
            for turn in range(8):
                acts = info.get("admissible_actions")
                if not acts:
                    break
                planned = oracle() if ep % 2 == 0 else None
                action = planned if planned is not None else acts[int(rng.integers(len(acts)))]
                state = PromptState(env_id, task, obs, list(history), acts, turn)
                msgs = builder.build(state)
                shown = msgs if turn == 0 else msgs[1:]  # the system prompt once per episode is enough
                out.append("\n".join(m["content"] for m in shown) + "\n" + format_action(action))
                obs, _, terminated, truncated, info = env.step(action)
                history.append((action, obs))
                if terminated or truncated:
                    break
        finally:
            env.close()
    return out


def build_corpus(episodes: int = 16, seed: int = 0) -> str:
    import aem_envs

    rng = np.random.default_rng(seed)
    paragraphs = list(VOCABULARY)
    present = {row.id for row in aem_envs.list_envs()}
    missing = [e for e in CORPUS_ENVS if e not in present]
    if missing:
        raise RuntimeError(f"the corpus envs {missing} are not registered; the corpus would silently differ")
    for env_id in CORPUS_ENVS:
        try:
            paragraphs += _play(env_id, EPISODES.get(env_id, episodes), rng)
        except Exception as e:  # an env under construction must not stop the corpus
            print(f"skipping {env_id}: {type(e).__name__}: {e}")
    return "\n\n".join(p.strip() for p in paragraphs) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--episodes", type=int, default=16)
    ap.add_argument("--out", type=Path, default=CORPUS)
    args = ap.parse_args()
    text = build_corpus(args.episodes)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text):,} chars)")


if __name__ == "__main__":
    main()
