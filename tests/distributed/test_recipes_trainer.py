"""The GPU recipes construct on CPU (tiny model substituted), and the distributed trainer runs on 2 ranks."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp

from aem_gym.baselines.config import list_recipes, load_config
from aem_gym.baselines.distributed import DistContext, DistributedTrainer
from tests.distributed._workers import trainer_worker

GPU_RECIPES = [r for r in list_recipes() if r.startswith("gpu-")]
PAPER = {"gpu-qwen2.5-1.5b-household": ("Qwen/Qwen2.5-1.5B-Instruct", 50),
         "gpu-qwen2.5-7b-household": ("Qwen/Qwen2.5-7B-Instruct", 50),
         "gpu-qwen2.5-1.5b-webshop": ("Qwen/Qwen2.5-1.5B-Instruct", 15),
         "gpu-qwen2.5-7b-webshop": ("Qwen/Qwen2.5-7B-Instruct", 15)}


def test_the_gpu_recipes_exist():
    assert set(PAPER) | {"gpu-deepswe-swe-repair"} == set(GPU_RECIPES)


@pytest.mark.parametrize("recipe", sorted(PAPER))
def test_paper_settings(recipe):
    cfg = load_config(recipe)
    model, turns = PAPER[recipe]
    assert cfg.model.init == model and cfg.env.max_turns == turns
    assert (cfg.rollout.groups, cfg.rollout.group_size, cfg.rl.steps, cfg.rl.lr) == (16, 8, 150, 1e-6)
    lc = cfg.loss_config()
    assert (lc.kl_coef, lc.kl_type, lc.clip_low, lc.clip_high) == (0.01, "k3", 0.2, 0.2)
    assert cfg.aem.enabled and cfg.aem.lam == 1.0 and cfg.aem.min_range == 0.1 and cfg.eval.temperature == 0.4
    assert cfg.env.invalid_penalty == -0.1 and cfg.distributed.rollout == "vllm"
    assert load_config(recipe, overrides={"algo": "grpo"}).aem.enabled is False  # the baseline arm


def test_deepswe_grpo_plus_plus():
    cfg = load_config("gpu-deepswe-swe-repair")
    lc = cfg.loss_config()
    assert cfg.estimator_name == "rloo" and cfg.aem.enabled and not cfg.use_dynamic_sampling()
    assert (lc.clip_low, lc.clip_high, lc.kl_coef, lc.entropy_coef, lc.agg) == (0.2, 0.28, 0.0, 0.0,
                                                                                "seq-mean-token-sum")
    assert cfg.env.env_kwargs == {"runtime": "docker"} and cfg.distributed.strategy == "fsdp"
    assert cfg.rollout.groups * cfg.rollout.group_size == 64


@pytest.mark.parametrize("recipe", GPU_RECIPES)
def test_recipe_builds_trainer_objects_on_cpu(recipe, tiny_model_dir, tmp_path):
    cfg = load_config(recipe, overrides={"model.init": str(tiny_model_dir), "out_dir": str(tmp_path),
                                         "distributed.rollout": "hf", "distributed.env_workers": "local"})
    tr = DistributedTrainer(cfg, DistContext(), progress=False)
    assert tr.train_model is tr.model and tr.model.dtype == torch.float32
    groups = tr.optimizer.param_groups[0]
    assert groups["lr"] == 1e-6 and sum(p.numel() for p in groups["params"]) == sum(
        p.numel() for p in tr.model.parameters())
    assert tr.my_groups == list(range(cfg.rollout.groups))
    assert (tmp_path / "config.yaml").exists()
    tr.close()


def test_vllm_rollout_needs_vllm_with_a_clear_error(tiny_model_dir, tmp_path):
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed: covered by the GPU test")
    except ImportError:
        pass
    cfg = load_config("gpu-qwen2.5-1.5b-household", overrides={"model.init": str(tiny_model_dir),
                                                               "out_dir": str(tmp_path)})
    with pytest.raises(ImportError, match="vLLM"):
        DistributedTrainer(cfg, DistContext(), progress=False)


def test_bad_distributed_settings_are_rejected(tiny_model_dir, tmp_path):
    base = {"model.init": str(tiny_model_dir), "out_dir": str(tmp_path)}
    with pytest.raises(ValueError, match="strategy"):
        DistributedTrainer(load_config(None, overrides={**base, "distributed.strategy": "zero3"}),
                           DistContext())
    with pytest.raises(ValueError, match="sft.episodes"):
        DistributedTrainer(load_config(None, overrides={**base, "distributed.strategy": "fsdp",
                                                        "sft.episodes": 4}), DistContext())


def test_two_rank_trainer_keeps_replicas_identical(tiny_model_dir, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(trainer_worker, args=(2, port, str(tiny_model_dir), str(tmp_path), "ddp", 2),
             nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"trainer{r}.pt") for r in range(2))
    assert a["groups"] == [0, 1] and b["groups"] == [2, 3]
    assert torch.equal(a["params"], b["params"])
    for ma, mb in zip(a["metrics"], b["metrics"], strict=True):
        assert ma["world_size"] == 2 and ma["rows"] == mb["rows"] and ma["rows"] >= 8  # summed over ranks
        assert ma["grad_norm"] == mb["grad_norm"] > 0
