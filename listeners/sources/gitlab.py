"""GitLab push and tag-push webhooks (``X-Gitlab-Token``).

GitLab sends the shared secret itself, not a signature, so the token is
compared in constant time. A push lists at most 20 commits while
``total_commits_count`` tells the real number; the event carries both, so a
path filter can tell "no matching path" from "paths unknown".
"""

from __future__ import annotations

from core.identifiers import GitSha, RepoName
from listeners.sources.base import Delivery, Headers, Ignored, ParseResult, Source, header
from listeners.sources.git_push import HostCommit, PushFacts, push_event, repo_of
from listeners.sources.keyring import Credential, Keyring
from listeners.sources.payload import SenderModel, load_json
from listeners.sources.signing import required_signature, shared_token

PUSH_HOOKS = frozenset({"Push Hook", "Tag Push Hook"})


class _Project(SenderModel):
    path_with_namespace: RepoName
    git_http_url: str = ""


class _Push(SenderModel):
    ref: str
    before: GitSha
    after: GitSha
    user_username: str = ""
    commits: list[HostCommit] = []
    total_commits_count: int
    project: _Project


def token(headers: Headers) -> str:
    return required_signature(headers, "x-gitlab-token")


def verify(headers: Headers, body: bytes, keyring: Keyring) -> Credential:
    return shared_token(token(headers), keyring)


def parse(delivery: Delivery) -> ParseResult:
    kind = header(delivery.headers, "x-gitlab-event")
    if kind not in PUSH_HOOKS:
        return Ignored(f"gitlab event {kind!r} starts nothing")
    push = load_json(_Push, delivery.body)
    delivery_id = delivery.headers.get("idempotency-key") or delivery.headers.get("x-gitlab-event-uuid", "")
    return [
        push_event(
            PushFacts(
                host="gitlab",
                delivery_id=delivery_id,
                repo=push.project.path_with_namespace,
                clone_url=push.project.git_http_url,
                ref=push.ref,
                before=push.before,
                after=push.after,
                commits=push.commits,
                total_commits=push.total_commits_count,
                truncated=push.total_commits_count > len(push.commits),
                pusher=push.user_username,
            )
        )
    ]


SOURCE = Source(name="gitlab", verify=verify, parse=parse, scope=repo_of, check_headers=token)
