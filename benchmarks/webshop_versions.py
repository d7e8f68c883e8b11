"""WebShop v0 against v1: ``python -m benchmarks.webshop_versions [--episodes N] [--baselines DIR ...]``.

Plays the test split of both catalogs with the oracle, a careful shopper that reads item pages, a random
shopper and the "title-matching" shopper without and with clicking the option values the instruction names
(``aem_envs.webshop.difficulty``), measures the catalog statistics that make v1 harder (attributes in
titles, near-duplicate distractors, binding price caps), adds the released baseline agents from ``aem eval``
result folders (``--baselines``, named ``<agent>-<version>``) and writes ``table.md``, ``results.json`` and
``versions.png`` to ``benchmarks/results/webshop-v1/`` (docs/webshop.md shows them).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from tqdm import tqdm

VERSIONS = ("v0", "v1")
SHOPPERS = ("oracle", "careful", "random", "title-match", "title-match+options")
OUT = Path(__file__).resolve().parent / "results" / "webshop-v1"
STATS = [("title_overlap", "instruction terms found in the target's title"),
         ("attrs_in_title", "goal attributes written in the target's title"),
         ("distractors", "same-bucket products one unit short of 1.0, per goal"),
         ("attribute_distractors", "... missing one attribute"),
         ("option_distractors", "... missing one option value"),
         ("price_distractors", "... only over the price cap"),
         ("price_binds", "goals where the price cap rules out a near-duplicate"),
         ("first_page_target", "target on page 1 of a search for the instruction"),
         ("first_page_full", "page-1 products that can score 1.0 (target included)"),
         ("first_page_near", "page-1 products one unit short of 1.0")]


def play(version: str, shopper: str, episodes: int) -> dict[str, float]:
    import aem_envs
    from aem_envs.webshop.difficulty import CarefulShopper, random_action, title_match_action

    env = aem_envs.make(f"aem/WebShop-{version}", split="test")
    ws = env.unwrapped
    scores = []
    for ep, iid in enumerate(tqdm(ws.tasks.ids("test")[:episodes], desc=f"{shopper} {version}", leave=False,
                                  mininterval=1.0)):
        rng = random.Random(ep)
        _, info = env.reset(seed=ep, options={"instance_id": iid})
        reward, done, careful = 0.0, False, CarefulShopper()
        while not done:
            if shopper == "careful":
                action = careful(env, info)
            elif shopper == "oracle":
                action = ws.oracle_action()
            elif shopper.startswith("title-match"):
                action = title_match_action(env, info, options=shopper.endswith("+options"))
            else:
                action = random_action(env, info, rng)
            _, reward, term, trunc, info = env.step(action)
            done = term or trunc
        scores.append(float(reward))
    env.close()
    return {"episodes": len(scores), "success": sum(s == 1.0 for s in scores) / len(scores),
            "score": sum(scores) / len(scores)}


def baseline_rows(folders: list[Path]) -> dict[str, dict[str, dict[str, float]]]:
    """``{agent: {version: row}}`` from ``aem eval`` result folders named ``<agent>-<version>``."""
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for folder in folders:
        summary = json.loads((folder / "summary.json").read_text())
        for env_id, r in summary["envs"].items():
            version = env_id.rsplit("-", 1)[1]
            name = folder.name.removesuffix(f"-{version}")
            rows.setdefault(name, {})[version] = {"episodes": r["episodes"], "success": r["success_rate"],
                                                  "score": r["mean_score"]}
    return rows


def catalog_numbers(version: str) -> dict[str, float]:
    from aem_envs.webshop.difficulty import catalog_stats
    from aem_envs.webshop.env import load_generated

    tasks, catalog = load_generated(version)
    out = catalog_stats([tasks.get(i) for i in tasks.ids("test")], catalog)
    return {**out, "products": len(catalog), "goals": sum(len(tasks.ids(s)) for s in tasks.splits())}


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def table(results: dict[str, Any]) -> str:
    agents = results["agents"]
    lines = ["| agent | episodes | v0 success | v0 score | v1 success | v1 score | success ratio v1/v0 |",
             "|---|---|---|---|---|---|---|"]
    for name, by_v in agents.items():
        a, b = by_v.get("v0", {}), by_v.get("v1", {})
        ratio = f"{b['success'] / a['success']:.2f}" if a.get("success") and b else "n/a"
        cells = [f"{r['success']:.1%} | {r['score']:.3f}" if r else "n/a | n/a" for r in (a, b)]
        n = a.get("episodes", b.get("episodes"))
        lines.append(f"| {name} | {n} | {cells[0]} | {cells[1]} | {ratio} |")
    lines += ["", "| catalog statistic (test goals) | v0 | v1 |", "|---|---|---|"]
    cat = results["catalog"]
    for key, text in [("products", "products"), ("goals", "goals (all splits)"), *STATS]:
        lines.append(f"| {text} | {_num(cat['v0'][key])} | {_num(cat['v1'][key])} |")
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = list(results["agents"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("success", "score"), strict=True):
        for k, v in enumerate(VERSIONS):
            vals = [results["agents"][a].get(v, {}).get(metric, 0.0) for a in agents]
            ax.bar([i + (k - 0.5) * 0.38 for i in range(len(agents))], vals, 0.38, label=f"WebShop-{v}")
        ax.set_xticks(range(len(agents)), agents, rotation=20, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"test split: {'success rate' if metric == 'success' else 'mean score'}")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=500, help="test goals per version (the split has 500)")
    ap.add_argument("--baselines", type=Path, nargs="*", default=[],
                    help="aem eval result folders named <agent>-<version>")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    agents = {s: {v: play(v, s, args.episodes) for v in VERSIONS} for s in SHOPPERS}
    agents.update(baseline_rows(args.baselines))
    results = {"agents": agents, "catalog": {v: catalog_numbers(v) for v in VERSIONS}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    (args.out / "table.md").write_text(table(results))
    plot(results, args.out / "versions.png")
    print(table(results))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
