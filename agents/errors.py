"""Errors a policy backend raises to the episode loop.

``BackendError``: the policy could not produce a reply for reasons that are not the agent's (an endpoint
down, a rate limit that outlasted the retries, an HTTP 5xx, a malformed response). A backend raises it from
``generate`` once its own retries are spent. By default it fails every request of that ``generate`` call;
a backend that got the other replies passes them as ``generations`` (one entry per request, ``None`` where
it failed), so only the failed episodes end. The episode loop (``aem_gym.agents.rollout``) catches it
and ends each affected episode with ``status="error"`` without stepping its env: infrastructure failures
are never scored as the agent's failure. Such episodes are excluded from the success rate and counted
separately (``errors``) in the evaluation summary. A backend may equally answer
``Generation(finish_reason="error", error=...)`` for one request of a batch; the loop treats it the same way.

Any other exception from ``generate`` still stops the run: it is a bug, not a transient failure.
"""

from __future__ import annotations

from collections.abc import Sequence

from aem_gym.agents.types import Generation, GenerationRequest


class BackendError(RuntimeError):
    """The backend failed after its retries. ``generations``: one entry per request of the failed
    ``generate`` call, ``None`` where it failed (default: it failed them all)."""

    def __init__(self, message: str, generations: Sequence[Generation | None] | None = None):
        super().__init__(message)
        self.generations = None if generations is None else list(generations)

    def replies(self, n: int) -> list[Generation | None]:
        """The replies of a call of ``n`` requests, ``None`` for each one that failed."""
        if self.generations is None or len(self.generations) != n:
            return [None] * n
        return list(self.generations)


def call_policy(policy,
                requests: list[GenerationRequest]) -> tuple[list[Generation | None], BackendError | None]:
    """``policy.generate(requests)`` checked (one generation per request, in order); under a
    ``BackendError`` each failed request's reply is ``None`` and the error comes back with them."""
    from aem_gym.agents.policy import check_generations

    try:
        return list(check_generations(requests, policy.generate(requests))), None
    except BackendError as e:
        return e.replies(len(requests)), e
