"""aem/SWERepair-v0 latency per runtime, beside swebench's own harness on the same instances.

    .venv/bin/python -m benchmarks.swe [--n 3]

Per runtime: reset (fresh sandbox), one step (``<bash>ls</bash>``), and submit-with-gold (fresh grading
sandbox + tests + swebench grading). Reference, measured in the same run: swebench 5.0.2's
``run_instance`` (Docker, its own container handling) on the same instances, with an image per instance
built locally from the same base image (``docker build --network none``; no registry).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from rich.console import Console
from rich.table import Table
from tqdm import tqdm


def _env_times(runtime: str, ids: list[str]) -> dict[str, float]:
    import aem_envs

    env = aem_envs.make("aem/SWERepair-v0", runtime=runtime, instances_source="swe-mini")
    resets, steps, grades, ok = [], [], [], 0
    try:
        for iid in tqdm(ids, desc=runtime):
            t = time.perf_counter()
            env.reset(options={"instance_id": iid})
            resets.append(time.perf_counter() - t)
            t = time.perf_counter()
            env.step("<bash>ls</bash>")
            steps.append(time.perf_counter() - t)
            env.step(f"<bash>git apply - <<'AEM'\n{env.unwrapped.row['patch']}AEM\n</bash>")
            t = time.perf_counter()
            _, reward, *_ = env.step("<submit/>")
            grades.append(time.perf_counter() - t)
            ok += reward == 1.0
    finally:
        env.close()
    return {"reset": statistics.median(resets), "step": statistics.median(steps),
            "grade": statistics.median(grades), "resolved": ok}


def _swebench_times(rows: list[dict]) -> dict[str, float] | str:
    from aem_envs.swe import repos
    from aem_envs.swe.instances import load_bundled
    from aem_envs.swe.sandbox.docker import BASE_IMAGE, docker_client

    client = docker_client()
    if client is None:
        return "no Docker daemon"
    from swebench.harness.run_evaluation import run_instance
    from swebench.harness.utils import make_test_spec

    ts, grades, ok = load_bundled(), [], 0
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # run_instance writes logs/ relative to the current directory
        try:
            for row in tqdm(rows, desc="swebench"):
                src = repos.checkout(ts.path(row["bundle"]), row["base_commit"])
                ctx = os.path.join(tmp, "ctx-" + row["instance_id"])
                os.makedirs(ctx)
                os.system(f"cp -a {src} {ctx}/testbed")
                with open(os.path.join(ctx, "Dockerfile"), "w") as f:
                    f.write(f"FROM {BASE_IMAGE}\nCOPY testbed /testbed\n")
                client.images.build(path=ctx, tag=row["image"], network_mode="none", rm=True)
                pred = {"instance_id": row["instance_id"], "model_name_or_path": "gold",
                        "model_patch": row["patch"]}
                t = time.perf_counter()
                out = run_instance(make_test_spec(row), pred, client,
                                   run_id=f"bench{os.getpid()}{len(grades)}",
                                   timeout=300)
                grades.append(time.perf_counter() - t)
                ok += bool(out and out[1][row["instance_id"]]["resolved"])
                client.images.remove(row["image"], force=True)
        finally:
            os.chdir(cwd)
    return {"grade": statistics.median(grades), "resolved": ok}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3)
    args = ap.parse_args(argv)
    from aem_envs.swe.instances import load_bundled
    from aem_envs.swe.sandbox import runtime_status

    ts = load_bundled()
    ids = ts.ids("test")[: args.n]
    rows = [dict(ts.get(i)) for i in ids]
    results = {}
    for rt in ("bwrap", "docker"):
        reason = runtime_status(rt)
        results[rt] = _env_times(rt, ids) if reason is None else reason
    try:
        ref = _swebench_times(rows)
    except Exception as e:  # the reference is optional: say why it is missing
        ref = f"{type(e).__name__}: {e}"
    table = Table(title=f"aem/SWERepair-v0 latency, median of {len(ids)} instances (gold patch)")
    for col in ("runtime", "reset ms", "step ms", "grade s", "grade vs swebench", "resolved"):
        table.add_column(col)
    ref_grade = ref["grade"] if isinstance(ref, dict) else None
    for rt, r in results.items():
        if isinstance(r, str):
            table.add_row(rt, "-", "-", "-", "-", f"unavailable: {r[:60]}")
            continue
        ratio = f"{r['grade'] / ref_grade:.2f}x" if ref_grade else "n/a"
        table.add_row(rt, f"{r['reset'] * 1e3:.0f}", f"{r['step'] * 1e3:.0f}", f"{r['grade']:.2f}", ratio,
                      f"{r['resolved']}/{len(ids)}")
    if isinstance(ref, dict):
        table.add_row("swebench run_instance (docker)", "-", "-", f"{ref['grade']:.2f}", "1.00x",
                      f"{ref['resolved']}/{len(ids)}")
    else:
        table.add_row("swebench run_instance (docker)", "-", "-", "-", "-", f"unavailable: {ref[:60]}")
    Console().print(table)


if __name__ == "__main__":
    main()
