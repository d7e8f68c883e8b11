"""Errors that cross the policy protocol.

``BackendError``: the policy's infrastructure failed (an endpoint unreachable or answering 5xx after its
retries, a server that refuses the request for a reason the agent did not cause). The episode loop ends
the affected episodes with status ``error``: they are excluded from success rates and listed in the
summary, never scored as the agent failing the task.
"""

from __future__ import annotations


class BackendError(RuntimeError):
    """The policy could not produce a reply for a reason outside the agent (after the backend's retries)."""
