"""The reverse curriculum: head-start schedule, same start for a group's copies, never the winning step."""

from __future__ import annotations

import pytest

from aem_gym.baselines.curriculum import OracleStart, head_start


def test_schedule_decays_to_zero():
    ks = [head_start(8, 0.5, t, 40) for t in range(40)]
    assert ks[0] == 8 and ks[10] == 4 and all(k == 0 for k in ks[20:])
    assert all(a >= b for a, b in zip(ks, ks[1:], strict=False))
    assert head_start(0, 0.5, 0, 40) == 0 and head_start(8, 0.0, 0, 40) == 0


def _env():
    import aem_envs

    return aem_envs.make("aem/Household-v0", split="train")


def test_copies_of_a_group_start_alike_and_the_agent_still_has_to_win():
    starts = []
    for seed in range(12):
        a, b = OracleStart(_env(), k_max=12), OracleStart(_env(), k_max=12)
        (_, ia), (_, ib) = a.reset(seed=seed), b.reset(seed=seed)
        assert a.last_head_start == b.last_head_start and ia["admissible_actions"] == ib["admissible_actions"]
        assert not a.unwrapped.won
        starts.append(a.last_head_start)
        # the oracle finishes from the warm state within its plan: the head start left the last step(s)
        for _ in range(30):
            _, r, term, _, info = a.unwrapped.step(a.unwrapped.oracle_action())
            if term:
                break
        assert info["won"]
    assert len(set(starts)) > 3 and min(starts) == 0  # spread over 0..k_max, capped by plan length


def test_needs_an_oracle():
    import gymnasium as gym

    class NoOracle(gym.Env):
        def reset(self, *, seed=None, options=None):
            return "obs", {}

    with pytest.raises(ValueError, match="oracle"):
        OracleStart(NoOracle(), k_max=3).reset(seed=0)
