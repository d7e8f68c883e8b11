"""Errors raised by aem_envs. All derive from gymnasium's base error so callers can catch one type."""

from __future__ import annotations

from gymnasium import error as gym_error


class AEMError(gym_error.Error):
    """Base class of every aem_envs error."""


class UnknownEnvError(AEMError, gym_error.NameNotFound):
    """An env id that is not registered (the message suggests the nearest ids)."""


class ManifestMismatchError(AEMError):
    """Task data on disk does not match its manifest's content hash."""


class UnknownTaskError(AEMError, KeyError):
    """An instance id or split that the task set does not hold."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class CheckFailed(AEMError):
    """`aem_envs.check` found at least one violated contract."""
