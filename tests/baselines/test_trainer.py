"""The update step and the loop: loss goes down on a fixed batch, determinism, exact resume, a recipe smoke
run."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from aem_gym.baselines.batch import collate
from aem_gym.baselines.forward import old_policy_pass, response_forward
from aem_gym.baselines.losses import LossConfig, policy_loss
from aem_gym.baselines.update import UpdateConfig, ppo_update


def _records(n=6, seed=0):
    from aem_gym.agents.types import TurnRecord

    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        p = torch.randint(5, 200, (int(torch.randint(4, 12, (1,), generator=g)),), generator=g).tolist()
        r = torch.randint(5, 200, (int(torch.randint(1, 6, (1,), generator=g)),), generator=g).tolist()
        rows.append(TurnRecord(group_uid=f"g{i % 2}", traj_uid=f"t{i}", turn_idx=0, env_id="x",
                               instance_id="i", task_type="t", observation=f"o{i % 3}", action_text="a",
                               reward=float(i % 3 == 0), done=True, prompt_ids=p, response_ids=r))
    return rows


def test_collate_layout_and_mask():
    rows = _records()
    b = collate(rows, pad_id=0)
    for i, r in enumerate(rows):
        assert b.response_mask[i].sum().item() == len(r.response_ids)
        assert b.input_ids[i, b.prompt_width:b.prompt_width + len(r.response_ids)].tolist() == r.response_ids
        assert b.input_ids[i, b.prompt_width - len(r.prompt_ids):b.prompt_width].tolist() == r.prompt_ids
    assert b.group.tolist() == [0, 1, 0, 1, 0, 1] and b.traj.unique().numel() == 6
    with pytest.raises(ValueError):
        collate([], pad_id=0)


def test_forward_matches_full_logits(tiny_model_dir):
    from aem_gym.agents.tiny import load_tiny_model

    model, _ = load_tiny_model(tiny_model_dir)
    b = collate(_records(), pad_id=0)
    fo = old_policy_pass(model, b, micro_batch=4, with_entropy=True)
    # reference: full logits, unpadded, row by row
    r = _records()[2]
    ids = torch.tensor([r.prompt_ids + r.response_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(r.prompt_ids) - 1:-1].float()
    ref = torch.log_softmax(logits, -1).gather(-1, torch.tensor(r.response_ids)[:, None]).squeeze(-1)
    n = len(r.response_ids)
    assert torch.allclose(fo.logp[2, :n], ref, atol=1e-4)
    p = torch.softmax(logits, -1)
    assert torch.allclose(fo.entropy[2, :n], -(p * p.log()).sum(-1), atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_blocked_reductions_equal_the_plain_ones(monkeypatch, dtype):
    """The no-grad path (blocks of positions, reused buffers) gives the plain log-softmax's log-probs and
    -Σ p log p entropies, with temperature and constrained-decoding masks, across uneven block edges."""
    from aem_gym.agents.constrained import mask_logits
    from aem_gym.baselines import forward

    monkeypatch.setattr(forward, "BLOCK_FLOATS", 3 * 50)  # 3 positions a block: 7 x 5 = 35 positions
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(7, 5, 50, generator=g) * 4).to(dtype)
    targets = torch.randint(0, 50, (7, 5), generator=g)
    allowed = torch.full((7, 5, 4), -1, dtype=torch.long)
    allowed[2:, :, :3] = torch.randint(0, 50, (5, 5, 3), generator=g)
    allowed[2:, :, 0] = targets[2:]  # the sampled token is allowed where masks apply
    logp, ent = forward.blocked_logp_entropy(logits, targets, 0.7, allowed, with_entropy=True)
    z = mask_logits(logits.float() / 0.7, allowed)
    ref_lp = torch.log_softmax(z, -1).gather(-1, targets[..., None]).squeeze(-1)
    p = torch.softmax(z, -1)
    ref_h = -(p * torch.log_softmax(z, -1)).sum(-1)
    assert torch.allclose(logp, ref_lp, atol=1e-5) and torch.allclose(ent, ref_h, atol=1e-5)
    assert ent[2:].max() <= math.log(3) + 1e-5  # at most 3 allowed ids there
    lp_only, none = forward.blocked_logp_entropy(logits, targets, 0.7, allowed, with_entropy=False)
    assert none is None and torch.equal(lp_only, logp)


def test_one_update_lowers_loss_on_fixed_batch(tiny_model_dir):
    from aem_gym.agents.tiny import load_tiny_model

    torch.manual_seed(0)
    model, _ = load_tiny_model(tiny_model_dir)
    b = collate(_records(), pad_id=0)
    b.old_logp = old_policy_pass(model, b, 8, with_entropy=False).logp
    b.advantages = torch.tensor([1.0, -1.0, 0.5, -0.5, 1.0, -1.0])
    cfg = LossConfig(kl_coef=0.0)

    def loss():
        with torch.no_grad():
            fw = response_forward(model, b.input_ids, b.attention_mask, b.response_width)
            return policy_loss(fw.logp, b.old_logp, b.advantages, b.response_mask, cfg).loss.item()

    before = loss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    m = ppo_update(model, opt, b, cfg, UpdateConfig(mini_batch_size=6, micro_batch_size=4))
    assert m["opt_steps"] == 1.0 and m["grad_norm"] > 0
    assert loss() < before - 1e-3


def test_microbatching_equals_full_batch_gradient(tiny_model_dir):
    from aem_gym.agents.tiny import load_tiny_model

    grads = []
    for micro in (6, 2):
        model = load_tiny_model(tiny_model_dir)[0].double()
        b = collate(_records(), pad_id=0)
        b.old_logp = old_policy_pass(model, b, 8, with_entropy=False).logp
        b.advantages = torch.tensor([1.0, -1.0, 0.5, -0.5, 1.0, -1.0])
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        ppo_update(model, opt, b, LossConfig(kl_coef=0.0),
                   UpdateConfig(mini_batch_size=6, micro_batch_size=micro,
                                                                          grad_clip=0))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    # float64: the two differ only in summation order and padding width (a few u = 1.1e-16 relative on
    # gradients up to ~0.3: measured 8e-17); a wrong micro-batch weighting moves them by a sizeable share
    # of that 0.3. In float32 the same noise is ~1 ulp (6e-8) and depends on the CPU's kernels.
    assert torch.allclose(grads[0], grads[1], atol=1e-12, rtol=0)


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_train_step_deterministic(fast_config, tmp_path):
    from aem_gym.baselines.trainer import Trainer

    outs = []
    for i in range(2):
        cfg = fast_config(out_dir=str(tmp_path / f"r{i}"))
        tr = Trainer(cfg, progress=False)
        tr.warm_start()
        m = tr.train_step(0)
        outs.append((m, _params(tr.model)))
    (m0, p0), (m1, p1) = outs
    assert torch.equal(p0, p1)
    for k in ("train/success", "policy_entropy", "loss/pg", "aem/alpha_max", "rows"):
        assert m0[k] == m1[k], k
    assert m0["rows"] > 0 and m0["aem/alpha_mean"] == pytest.approx(1.0, abs=1e-5)


def test_resume_is_exact(fast_config, tmp_path):
    from aem_gym.baselines.checkpoint import latest_checkpoint
    from aem_gym.baselines.trainer import Trainer

    cfg = fast_config(out_dir=str(tmp_path / "a"))
    a = Trainer(cfg, progress=False)
    a.fit(resume=False)
    full = _params(a.model)
    assert (tmp_path / "a" / "final" / "model.safetensors").exists()
    assert (tmp_path / "a" / "metrics.csv").read_text().count("\ntrain,") == 2
    # interrupted copy: drop the step-2 checkpoint and the final model, then resume from step 1
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "ckpt" / "step-000002")
    shutil.rmtree(tmp_path / "b" / "final")
    assert latest_checkpoint(tmp_path / "b").name == "step-000001"
    b = Trainer(fast_config(out_dir=str(tmp_path / "b")), progress=False)
    assert b.resume() and b.state.step == 1
    b.fit(resume=True)
    assert torch.equal(_params(b.model), full)


def test_recipe_smoke_run(tiny_model_dir, tmp_path):
    """The real recipe (Household env, SFT then RL), shrunk to seconds."""
    from aem_gym.baselines.config import load_config
    from aem_gym.baselines.trainer import Trainer

    cfg = load_config("cpu-tiny-household", overrides={
        "out_dir": str(tmp_path / "hh"), "model.init": str(tiny_model_dir), "model.max_new_tokens": 8,
        "sft.episodes": 3, "sft.epochs": 1, "env.max_turns": 3, "rollout.groups": 1, "rollout.group_size": 2,
        "rl.steps": 1, "eval.every": 0, "eval.episodes": 2, "eval.final_episodes": 2}, sets=["algo=dapo+aem"])
    assert cfg.aem.enabled and cfg.loss_config().clip_high == 0.28 and cfg.use_dynamic_sampling()
    final = Trainer(cfg, progress=False).fit()
    assert final["eval/episodes"] == 2 and 0.0 <= final["eval/success"] <= 1.0
    assert ((tmp_path / "hh" / "sft" / "config.json").exists()
            and (tmp_path / "hh" / "final" / "eval.json").exists())


def test_sft_cache_key_covers_the_library_versions(tmp_path, monkeypatch):
    """A cached SFT model made with another torch or transformers is not reused (other kernels, defaults)."""
    from importlib import metadata

    from aem_gym.baselines.config import load_config
    from aem_gym.baselines.trainer import sft_cache_dir

    cfg = load_config("cpu-tiny-household", overrides={"out_dir": str(tmp_path)})
    here = sft_cache_dir(cfg)
    real = metadata.version
    for lib in ("torch", "transformers"):
        monkeypatch.setattr(metadata, "version", lambda name, lib=lib: "0.0.1" if name == lib else real(name))
        assert sft_cache_dir(cfg) != here
    monkeypatch.setattr(metadata, "version", real)
    assert sft_cache_dir(cfg) == here


def test_sft_warm_start_is_shared_between_arms_of_one_seed(tiny_model_dir, tmp_path):
    """grpo and grpo+aem with the same seed start RL from the identical SFT model (trained once, then reused);
    another seed or other SFT settings get their own cache entry."""
    from aem_gym.baselines.config import load_config
    from aem_gym.baselines.trainer import Trainer, sft_cache_dir

    base = {"model.init": str(tiny_model_dir), "sft.episodes": 2, "sft.epochs": 1, "env.max_turns": 3}

    def cfg(algo: str, **kw):
        return load_config("cpu-tiny-household",
                           overrides={**base, "out_dir": str(tmp_path / "runs" / algo), **kw},
                           sets=[f"algo={algo}"])

    logs: list[str] = []
    a = Trainer(cfg("grpo"), progress=False, log=logs.append)
    a.warm_start()
    b = Trainer(cfg("grpo+aem"), progress=False, log=logs.append)
    b.warm_start()
    assert sft_cache_dir(a.cfg) == sft_cache_dir(b.cfg)
    assert "reused" not in logs[0] and "reused" in logs[1]
    assert torch.equal(_params(a.model), _params(b.model))
    # SFT changed it
    assert not torch.equal(_params(a.model), _params(Trainer(cfg("grpo"), progress=False).model))
    assert sft_cache_dir(cfg("grpo", seed=1)) != sft_cache_dir(a.cfg)
    assert sft_cache_dir(cfg("grpo", **{"sft.lr": 0.001})) != sft_cache_dir(a.cfg)
    off = Trainer(cfg("grpo", **{"sft.cache": False}), progress=False, log=logs.append)
    off.warm_start()
    assert "reused" not in logs[-1]
    # sft.seed: every seed starts from one SFT model; the step-0 evaluation is shared by a seed's arms
    assert sft_cache_dir(cfg("grpo", seed=5, **{"sft.seed": 0})) == sft_cache_dir(a.cfg)
    e = [Trainer(cfg(algo, seed=5, **{"sft.seed": 0, "eval.episodes": 2}), progress=False, log=logs.append)
         for algo in ("grpo", "grpo+empg")]
    for t in e:
        t.warm_start()
    first, second = e[0]._initial_eval(), e[1]._initial_eval()
    assert "reused" in logs[-1] and first == second and torch.equal(_params(e[0].model), _params(a.model))


def test_skipping_zero_advantage_rows_keeps_the_update(tiny_model_dir):
    """Rows with zero advantage are left out of the forward/backward; parameters after two mini-batches (one
    of them with no signal at all, so AdamW's momentum step must still happen) match the full computation."""
    from aem_gym.agents.tiny import load_tiny_model

    params = []
    for skip in (False, True):
        model, _ = load_tiny_model(tiny_model_dir)
        b = collate(_records(n=8), pad_id=0)
        b.old_logp = old_policy_pass(model, b, 8, with_entropy=False).logp
        b.advantages = torch.tensor([1.0, 0.0, 0.0, -0.5, 0.0, 0.0, 0.0, 0.0])
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        m = None
        for _ in range(2):
            m = ppo_update(model, opt, b, LossConfig(kl_coef=0.0),
                           UpdateConfig(mini_batch_size=4, micro_batch_size=2,
                                                                              skip_zero_advantage=skip))
        assert m["opt_steps"] == 2.0
        params.append(_params(model))
    assert torch.allclose(params[0], params[1], atol=1e-6) and not torch.equal(params[0],
                                                                               _params(load_tiny_model(
        tiny_model_dir)[0]))
