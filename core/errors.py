"""Error taxonomy that tells the dispatcher what to do next.

Every adapter (git remote, Argo Server, MLflow, Kafka) wraps the library error
it caught in one of these two, with ``raise ... from e``, so the caller never
has to know which library failed:

* ``PermanentError``: retrying cannot help (bad input, rejected credential,
  unknown model). Acknowledge, dead-letter, answer 4xx.
* ``TemporaryError``: the world may heal (network, 5xx, lock held). Retry
  later with backoff, or after its ``delay`` when the failure said how long
  to wait (a ``Retry-After`` header, a lock that is being held).
"""

from __future__ import annotations


class MlopsGitopsError(Exception):
    """Base of every error this service raises on purpose."""


class PermanentError(MlopsGitopsError):
    """Retrying will not help; the input or configuration must change."""


class TemporaryError(MlopsGitopsError):
    """The operation may succeed if tried again later; ``delay`` (seconds), when known, says when."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay
