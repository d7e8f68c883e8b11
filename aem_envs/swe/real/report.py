"""The difficulty table of docs/swe-real.md, from the task data, the build report, the validation report and
(optionally) evaluation results directories of ``aem eval`` (their ``episodes.jsonl``).

    python -m aem_envs.swe.real.report --docs docs/swe-real.md --eval oracle=runs/eval/real-oracle \\
        --eval random=runs/eval/real-random

The table is written between the ``<!-- swe-real-table:start -->`` and ``<!-- swe-real-table:end -->``
markers of the docs file (created if missing), so the prose around it stays hand-written.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aem_envs.swe import instances
from aem_envs.swe.real import build, validate

START, END = "<!-- swe-real-table:start -->", "<!-- swe-real-table:end -->"


def eval_results(folder: Path) -> dict[str, float]:
    """{instance id: success rate over seeds} of an ``aem eval`` results directory."""
    won: dict[str, list[bool]] = {}
    for line in (Path(folder) / "episodes.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            ep = json.loads(line)
            won.setdefault(ep["instance_id"], []).append(bool(ep["won"]))
    return {k: sum(v) / len(v) for k, v in won.items()}


def _cell(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.2f}"
    return str(x)


def table(evals: Mapping[str, Mapping[str, float]] | None = None) -> str:
    ts = instances.load_bundled("swe-real")
    built = json.loads((build.src_dir() / "build-report.json").read_text(encoding="utf-8"))
    vpath = validate.default_report()
    checked = json.loads(vpath.read_text(encoding="utf-8"))["runtimes"] if vpath.is_file() else {}
    evals = dict(evals or {})
    rts = [rt for rt, res in checked.items() if "unavailable" not in res]
    head = (["task", "split", "files", "lines", "F2P", "P2P"] + [f"grade s ({rt})" for rt in rts]
            + [f"gold/empty ({rt})" for rt in rts] + list(evals))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for split in ("test", "train"):
        for iid in ts.ids(split):
            b = built[iid]
            cells = [f"`{iid}`", split, b["gold"]["files"], b["gold"]["lines"], b["f2p"], b["p2p"]]
            cells += [checked[rt].get(iid, {}).get("grade_s") for rt in rts]
            cells += [_verdict(checked[rt].get(iid)) for rt in rts]
            cells += [evals[name].get(iid) for name in evals]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    for split in ("test", "train"):
        ids = ts.ids(split)
        summary = [f"**{split}: {len(ids)} tasks**", "", "", "", "", ""] + [""] * (2 * len(rts))
        summary += [_cell(sum(evals[n].get(i, 0.0) for i in ids) / len(ids)) for n in evals]
        lines.append("| " + " | ".join(summary) + " |")
    return "\n".join(lines) + "\n"


def _verdict(res: Mapping[str, Any] | None) -> str:
    if not res:
        return "—"
    return ("✓" if res["gold_resolved"] else "✗") + "/" + ("✗" if not res["empty_resolved"] else "✓ (!)")


def write_docs(docs: Path, body: str) -> None:
    text = docs.read_text(encoding="utf-8") if docs.is_file() else f"# swe-real\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    pre, rest = text.split(START, 1)
    post = rest.split(END, 1)[1]
    docs.write_text(f"{pre}{START}\n{body}{END}{post}", encoding="utf-8")


def plot(path: Path) -> None:
    """Grading time per task and runtime (the validation report), and the gold patch's size: a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = instances.load_bundled("swe-real")
    built = json.loads((build.src_dir() / "build-report.json").read_text(encoding="utf-8"))
    checked = json.loads(validate.default_report().read_text(encoding="utf-8"))["runtimes"]
    ids = sorted(built, key=lambda i: (built[i]["project"], i))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 0.22 * len(ids) + 1.5), sharey=True)
    y = range(len(ids))
    for k, (rt, res) in enumerate(r for r in checked.items() if "unavailable" not in r[1]):
        ax1.barh([i + 0.4 * k for i in y], [res[i]["grade_s"] for i in ids], height=0.4, label=rt)
    ax1.set_xlabel("grading time per submit (s)")
    ax1.legend(loc="lower right")
    ax2.barh(list(y), [built[i]["gold"]["lines"] for i in ids], color="gray")
    ax2.set_xlabel("lines changed by the gold patch")
    ax1.set_yticks(list(y), [f"{i} ({ts.split_of(i)})" for i in ids], fontsize=6)
    ax1.invert_yaxis()
    fig.suptitle(f"swe-real {ts.version}: {len(ids)} tasks")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write the swe-real difficulty table into a docs page.")
    ap.add_argument("--docs", type=Path, default=Path("docs/swe-real.md"))
    ap.add_argument("--eval", action="append", default=[], metavar="NAME=DIR",
                    help="an `aem eval` results directory as a column (e.g. oracle=runs/eval/x); repeatable")
    ap.add_argument("--plot", type=Path, default=None, help="also draw grading times and patch sizes (PNG)")
    a = ap.parse_args(argv)
    if a.plot:
        plot(a.plot)
    evals = {}
    for spec in a.eval:
        name, _, folder = spec.partition("=")
        evals.setdefault(name, {}).update(eval_results(Path(folder)))  # a name may repeat (one per split)
    write_docs(a.docs, table(evals))
    print(f"wrote the table into {a.docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
