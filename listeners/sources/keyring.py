"""The secrets one source accepts, and which repositories each may sign for.

Several secrets are live at once so one can be rotated without dropping
deliveries. A secret may also belong to one repository: then it is the only
kind of secret that repository's deliveries may carry, and it signs for no
other repository, so a leaked per-repository secret cannot forge pushes
elsewhere. Signatures are checked before the body is trusted, against every
secret, and the repository rule is applied once the payload names its repo.
Repository names are compared case-folded, as the git hosts treat them:
``ACME/churn-model`` is the repository that owns ``acme/churn-model``'s secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from listeners.rejections import UnauthorizedError
from listeners.settings import SourceSecrets


@dataclass(frozen=True)
class Credential:
    secret: bytes = field(repr=False)
    repo: str | None = None
    """``None``: a source-wide secret, valid for any repository without its own secrets."""


INSECURE = Credential(b"", None)
"""What an unsigned delivery is admitted with when ``insecure_dev`` is on and the source has no secrets."""


class Keyring:
    def __init__(
        self, credentials: list[Credential], *, tolerance_seconds: int = 300, clock: Callable[[], float] = time.time
    ) -> None:
        self._credentials = credentials
        self._own_repos = {c.repo.casefold() for c in credentials if c.repo is not None}
        self.tolerance_seconds = tolerance_seconds
        self._clock = clock

    @classmethod
    def from_settings(cls, secrets: SourceSecrets, *, tolerance_seconds: int) -> Keyring:
        credentials = [Credential(s.get_secret_value().encode()) for s in secrets.secrets]
        credentials += [
            Credential(s.get_secret_value().encode(), repo) for repo, values in secrets.per_repo.items() for s in values
        ]
        return cls(credentials, tolerance_seconds=tolerance_seconds)

    @property
    def empty(self) -> bool:
        return not self._credentials

    def first_match(self, matches: Callable[[bytes], bool]) -> Credential:
        """The first credential whose secret ``matches`` (a constant-time check), or 401."""
        for credential in self._credentials:
            if matches(credential.secret):
                return credential
        raise UnauthorizedError("signature or token matches no configured secret")

    def check_fresh(self, unix_timestamp: str) -> None:
        """Refuse signed timestamps outside the tolerance, so a captured delivery cannot be replayed later."""
        try:
            sent = int(unix_timestamp)
        except ValueError:
            raise UnauthorizedError("signature timestamp is not a unix time") from None
        if abs(self._clock() - sent) > self.tolerance_seconds:
            raise UnauthorizedError(f"signature timestamp is more than {self.tolerance_seconds} s away from now")

    def admits(self, credential: Credential, repo: str | None) -> bool:
        """Whether ``credential`` may sign for ``repo`` (see the module docstring)."""
        if credential is INSECURE:
            return True
        folded = repo.casefold() if repo is not None else None
        expected_owner = folded if folded in self._own_repos else None
        return (credential.repo.casefold() if credential.repo is not None else None) == expected_owner
