"""The trainer's fast TreasureHunt config, for tests that compose the trainer with the leaderboard."""

from tests.baselines.conftest import fast_config  # noqa: F401 - a fixture, shared
