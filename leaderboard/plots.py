"""PNG plots for the web page (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

# Column names a baseline's metrics.csv may use for the curves, most specific first: baselines' trainer
# writes eval/success (held-out), train/success and policy_entropy; the others are for foreign runs.
SUCCESS_COLUMNS = ("eval/success", "eval/success_rate", "eval_success_rate", "success_rate", "train/success",
                   "train/success_rate", "success", "won")
ENTROPY_COLUMNS = ("policy_entropy", "entropy", "mean_entropy", "train/entropy", "policy/entropy")


def _figure(w: float = 7.0, h: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(w, h), dpi=100)


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def task_type_png(rows: list[dict[str, Any]], title: str = "") -> bytes:
    """Horizontal bars: success rate per (env, task type)."""
    rows = sorted(rows, key=lambda r: (r["env_id"], r["task_type"]))
    plt, fig, ax = _figure(7.0, 0.4 * len(rows) + 1.2)
    labels = [f"{r['env_id'].split('/')[-1]} · {r['task_type']}" for r in rows]
    ax.barh(range(len(rows)), [r["success_rate"] for r in rows], color="#3b7dd8")
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("success rate")
    ax.set_title(f"success per task type {title}".strip())
    return _png(plt, fig)


def ranking_png(rows: list[dict[str, Any]], title: str = "") -> bytes:
    """Grouped bars: success per env (groups) per agent (bars), error bars = std-err over seeds."""
    envs = sorted({r["env_id"] for r in rows})
    agents = list(dict.fromkeys(r["agent"] for r in rows))
    cell = {(r["agent"], r["env_id"]): r for r in rows}
    plt, fig, ax = _figure(max(5.0, 1.2 + 0.5 * len(envs) * max(1, len(agents))), 3.4)
    width = 0.8 / max(1, len(agents))
    for k, agent in enumerate(agents):
        xs = [i + (k - (len(agents) - 1) / 2) * width for i in range(len(envs))]
        ys = [cell[(agent, e)]["success_rate"] if (agent, e) in cell else 0.0 for e in envs]
        err = [(cell.get((agent, e)) or {}).get("stderr") or 0.0 for e in envs]
        ax.bar(xs, ys, width, yerr=err, capsize=3, label=agent)
    ax.set_xticks(range(len(envs)), [e.split("/")[-1] for e in envs])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title(f"success per env {title}".strip())
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(plt, fig)


def _read_metrics(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _series(rows: list[dict[str, str]],
            candidates: tuple[str, ...]) -> tuple[str, list[float], list[float]] | None:
    for col in candidates:
        pts = []
        for r in rows:
            try:
                pts.append((float(r.get("step", "nan")), float(r[col])))
            except (KeyError, TypeError, ValueError):
                continue
        pts = [(x, y) for x, y in pts if x == x and y == y]  # drop NaN
        if pts:
            return col, [p[0] for p in pts], [p[1] for p in pts]
    return None


def training_runs(runs_dir: Path) -> dict[str, Path]:
    """``{run name: metrics.csv}`` for every baseline run directory that has one."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return {}
    return {p.parent.name: p for p in sorted(runs_dir.glob("*/metrics.csv"))}


def training_png(runs_dir: Path) -> bytes | None:
    """Success (and, where logged, entropy) against training step for every baseline run; ``None`` if none."""
    runs = training_runs(runs_dir)
    curves = []
    for name, path in runs.items():
        rows = _read_metrics(path)
        curves.append((name, _series(rows, SUCCESS_COLUMNS), _series(rows, ENTROPY_COLUMNS)))
    curves = [c for c in curves if c[1] or c[2]]
    if not curves:
        return None
    plt, fig, axes = _figure(10.0, 3.4)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.4), dpi=100)
    for name, succ, ent in curves:
        if succ:
            axes[0].plot(succ[1], succ[2], label=name, marker=".")
        if ent:
            axes[1].plot(ent[1], ent[2], label=name)
    axes[0].set_title("success during training")
    axes[1].set_title("mean response entropy (nats)")
    for ax in axes:
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=7)
    return _png(plt, fig)
