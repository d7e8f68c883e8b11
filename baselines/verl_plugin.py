"""AEM for verl users: AEM registered as advantage estimators in verl's own registry.

    import aem_gym.baselines.verl_plugin as aem_verl
    aem_verl.register_with_verl()          # adds "grpo_aem", "rloo_aem", ... to verl.trainer.ppo.core_algos
    # then: algorithm.adv_estimator=grpo_aem  (verl / verl-agent config)

verl calls a registered estimator as ``fn(token_level_rewards, response_mask, config=..., index=uid, ...)``
and expects ``(advantages, returns)``, both ``[batch, response_len]``. ``<base>_aem`` runs verl's own
``<base>`` estimator first and then scales every row's advantages by AEM's α (docs/training.md, computed by
``aem_gym.baselines.aem.aem_alpha``: the same code as our trainer), grouped by verl's ``uid`` (the rollout
group), never by row position. A row of verl(-agent) is one response, i.e. one turn, so α is per turn.

**The entropies.** AEM needs each row's per-token full-vocabulary entropy from the old-policy pass.
verl computes it there (``calculate_entropy=True``) and then drops it before the advantage step, and its
``compute_advantage`` passes no extra tensors. So hand them over in one of two ways:

* ``stash_entropies(old_log_prob.batch["entropys"])`` right where the trainer computes old log-probs
  (verl-agent: instead of ``old_log_prob.batch.pop("entropys")`` in ``ray_trainer.py``); the estimator
  consumes the stash once, and refuses a stash whose shape does not match the batch; or
* an ``entropys=`` keyword, for trainers that pass extra batch keys to estimators.

AEM settings: ``register_with_verl(lam=1.0, min_range=0.1)``, or keys ``aem_lam`` / ``aem_min_range`` in
verl's ``algorithm`` config where it accepts extra keys. Importing this module never imports verl.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from aem_gym.agents.aem import aem_alpha
from aem_gym.baselines.aem import mean_response_entropy

DEFAULT_BASES = ("grpo", "rloo", "reinforce_plus_plus_baseline", "grpo_passk", "gpg")
_stash_lock = threading.Lock()
_stash: list[Tensor] = []


def verl_available() -> bool:
    try:
        import verl.trainer.ppo.core_algos  # noqa: F401
    except Exception:  # ImportError, or a verl whose own imports fail on this machine
        return False
    return True


def stash_entropies(entropys: Tensor) -> None:
    """Keep the old-policy pass's per-token entropies ``[batch, response_len]`` for the next AEM estimate."""
    with _stash_lock:
        _stash[:] = [entropys.detach()]


def _take_stash() -> Tensor | None:
    with _stash_lock:
        return _stash.pop() if _stash else None


def _group_ids(index: Any, n: int) -> Tensor:
    """verl's ``uid`` array (strings, usually numpy object array) → dense integer group ids."""
    if index is None:
        raise ValueError("AEM needs verl's rollout-group ids (index=uid): set rollout.n > 1 or env.rollout.n")
    keys = list(index.tolist() if hasattr(index, "tolist") else index)
    if len(keys) != n:
        raise ValueError(f"index has {len(keys)} entries for {n} rows")
    table: dict[Any, int] = {}
    return torch.tensor([table.setdefault(k, len(table)) for k in keys], dtype=torch.long)


def _setting(config: Any, key: str, default: float) -> float:
    if config is None:
        return default
    getter = getattr(config, "get", None)
    value = getter(key, None) if callable(getter) else getattr(config, key, None)
    return default if value is None else float(value)


def aem_scale(advantages: Tensor, response_mask: Tensor, entropys: Tensor, index: Any, lam: float = 1.0,
              min_range: float = 0.1) -> tuple[Tensor, Tensor]:
    """α per row (groups = ``index``) and ``advantages * α`` broadcast over the row's tokens (verl layout)."""
    if entropys.shape != response_mask.shape:
        raise ValueError(f"entropys {tuple(entropys.shape)} must match response_mask "
                         f"{tuple(response_mask.shape)}")
    group = _group_ids(index, response_mask.shape[0])
    hbar, nonempty = mean_response_entropy(entropys.float().cpu(), response_mask.float().cpu())
    alpha = aem_alpha(hbar, group, lam=lam, min_range=min_range, include=nonempty)
    alpha = alpha.to(advantages.device, advantages.dtype)
    return alpha, advantages * alpha[:, None]


def make_aem_estimator(base: str, lam: float = 1.0, min_range: float = 0.1):
    """A verl advantage-estimator function: verl's ``base`` estimator, then AEM."""

    def estimator(token_level_rewards: Tensor, response_mask: Tensor, config: Any = None, index: Any = None,
                  entropys: Tensor | None = None, **kwargs: Any):
        from verl.trainer.ppo.core_algos import get_adv_estimator_fn

        base_fn = get_adv_estimator_fn(base)
        out = base_fn(token_level_rewards=token_level_rewards, response_mask=response_mask, config=config,
                      index=index, **kwargs)
        advantages, returns = out[0], out[1]
        ent = entropys if entropys is not None else _take_stash()
        if ent is None:
            raise ValueError(f"{base}_aem needs the old-policy entropies: call "
                             "aem_gym.baselines.verl_plugin.stash_entropies(old_log_prob.batch['entropys']) "
                             "before computing advantages (see the module docstring)")
        alpha, scaled = aem_scale(advantages, response_mask, ent.to(response_mask.device), index,
                                  lam=_setting(config, "aem_lam", lam),
                                  min_range=_setting(config, "aem_min_range", min_range))
        same = (returns is advantages
                or (returns.shape == advantages.shape and torch.equal(returns, advantages)))
        returns = scaled if same else returns  # outcome estimators return A as the return too
        return scaled, returns

    estimator.__name__ = f"compute_{base}_aem_advantage"
    estimator.__doc__ = (f"verl's {base!r} advantage, scaled per response by AEM's alpha "
                         "(baselines.verl_plugin).")
    return estimator


def register_with_verl(bases: Sequence[str] = DEFAULT_BASES, lam: float = 1.0,
                       min_range: float = 0.1) -> list[str]:
    """Register ``<base>_aem`` for every ``base`` verl knows; returns the names registered (idempotent)."""
    try:
        from verl.trainer.ppo import core_algos
    except ImportError as e:
        raise ImportError("register_with_verl needs verl (pip install verl, on its own CUDA stack)") from e
    registry = getattr(core_algos, "ADV_ESTIMATOR_REGISTRY", {})
    names = []
    for base in bases:
        try:
            core_algos.get_adv_estimator_fn(base)
        except (ValueError, KeyError):
            continue  # this verl version has no such base estimator
        name = f"{base}_aem"
        if name not in registry:
            core_algos.register_adv_est(name)(make_aem_estimator(base, lam, min_range))
        names.append(name)
    return names
