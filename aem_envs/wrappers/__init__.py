"""Wrappers for text envs, one per file."""

from aem_envs.wrappers.action_parser import ActionParser
from aem_envs.wrappers.history import HistoryPrompt
from aem_envs.wrappers.invalid_action_penalty import InvalidActionPenalty
from aem_envs.wrappers.recorder import TrajectoryRecorder
from aem_envs.wrappers.turn_limit import TurnLimit

__all__ = ["ActionParser", "HistoryPrompt", "InvalidActionPenalty", "TrajectoryRecorder", "TurnLimit"]
