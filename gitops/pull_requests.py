"""Open a pull (merge) request on GitHub, GitLab or Gitea for a pushed promotion branch.

In pull-request mode a person approves each deployment: the bot pushes a
branch and asks the git host to open a request against the deployed branch.
The three hosts differ only in a few details (path, field names, auth header,
how an already-open request is found), so each dialect is a small subclass
and the HTTP handling lives once in :class:`PullRequestClient`.

Opening is idempotent: when the host answers that a request for the branch
already exists (GitHub 422, GitLab and Gitea 409), the existing one is looked
up and returned, so a retried promotion does not fail or open a second one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from core.errors import PermanentError, TemporaryError
from gitops.settings import PullRequestSettings

_ALREADY_EXISTS = frozenset({409, 422})


class PullRequestClient:
    """The GitHub dialect; GitLab and Gitea override what differs."""

    url_field = "html_url"

    def __init__(self, settings: PullRequestSettings, token: str) -> None:
        self._settings = settings
        self._http = httpx.Client(
            base_url=settings.api_url.rstrip("/"), headers=self.auth_headers(token), timeout=settings.timeout_seconds
        )

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}

    @property
    def repo_path(self) -> str:
        return f"/repos/{self._settings.repository}/pulls"

    def create_body(self, *, head: str, base: str, title: str, body: str) -> dict[str, str]:
        return {"head": head, "base": base, "title": title, "body": body}

    def find_params(self, *, head: str, base: str) -> dict[str, str]:
        owner = self._settings.repository.split("/", 1)[0]
        return {"head": f"{owner}:{head}", "base": base, "state": "open"}

    def matches(self, item: dict[str, Any], head: str) -> bool:
        return bool(item.get("head", {}).get("ref") == head)

    def open(self, *, head: str, base: str, title: str, body: str) -> str:
        """Open a request merging ``head`` into ``base``; returns its web URL (an existing one if open)."""
        response = self._send(
            "POST", self.repo_path, json=self.create_body(head=head, base=base, title=title, body=body)
        )
        if response.status_code in _ALREADY_EXISTS:
            return self._find_open(head=head, base=base)
        self._raise_for_status(response)
        return str(response.json()[self.url_field])

    def _find_open(self, *, head: str, base: str) -> str:
        response = self._send("GET", self.repo_path, params=self.find_params(head=head, base=base))
        self._raise_for_status(response)
        for item in response.json():
            if self.matches(item, head):
                return str(item[self.url_field])
        raise TemporaryError(f"the git host reports a request for {head} exists but lists none open; retry")

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise TemporaryError(f"the {self._settings.provider} API at {self._settings.api_url} is unreachable") from e

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in (401, 403):
            raise PermanentError(f"the {self._settings.provider} API refused the token ({status}); check its scopes")
        if status == 404:
            raise PermanentError(f"{self._settings.repository} not found on {self._settings.api_url}; check the name")
        if status >= 500 or status == 429:
            raise TemporaryError(f"the {self._settings.provider} API answered {status}; retry later")
        if status >= 400:
            raise PermanentError(f"the {self._settings.provider} API refused the request ({status}: {response.text})")

    def close(self) -> None:
        self._http.close()


class GiteaPullRequestClient(PullRequestClient):
    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}"}

    def find_params(self, *, head: str, base: str) -> dict[str, str]:
        return {"state": "open"}


class GitLabMergeRequestClient(PullRequestClient):
    url_field = "web_url"

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token}

    @property
    def repo_path(self) -> str:
        return f"/projects/{quote(self._settings.repository, safe='')}/merge_requests"

    def create_body(self, *, head: str, base: str, title: str, body: str) -> dict[str, str]:
        return {"source_branch": head, "target_branch": base, "title": title, "description": body}

    def find_params(self, *, head: str, base: str) -> dict[str, str]:
        return {"source_branch": head, "target_branch": base, "state": "opened"}

    def matches(self, item: dict[str, Any], head: str) -> bool:
        return bool(item.get("source_branch") == head)


_CLIENTS: dict[str, type[PullRequestClient]] = {
    "github": PullRequestClient,
    "gitea": GiteaPullRequestClient,
    "gitlab": GitLabMergeRequestClient,
}


def pull_request_client(settings: PullRequestSettings, token: str) -> PullRequestClient:
    return _CLIENTS[settings.provider](settings, token)
