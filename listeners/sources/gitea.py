"""Gitea and Forgejo push webhooks (``X-Gitea-Signature`` / ``X-Forgejo-Signature``).

Both sign the raw body with a bare hex HMAC-SHA256. Gitea also sends GitHub
and Gogs event headers; only its own are read here, so a Gitea delivery is
never mistaken for a GitHub one.
"""

from __future__ import annotations

from core.identifiers import GitSha, RepoName
from listeners.rejections import MalformedError
from listeners.sources.base import Delivery, Headers, Ignored, ParseResult, Source
from listeners.sources.git_push import HostCommit, PushFacts, push_event, repo_of
from listeners.sources.keyring import Credential, Keyring
from listeners.sources.payload import SenderModel, load_json
from listeners.sources.signing import hex_body_hmac, hex_signature


class _Repository(SenderModel):
    full_name: RepoName
    clone_url: str = ""


class _Pusher(SenderModel):
    login: str = ""


class _Push(SenderModel):
    ref: str
    before: GitSha
    after: GitSha
    commits: list[HostCommit] = []
    total_commits: int | None = None
    repository: _Repository
    pusher: _Pusher = _Pusher()


def signature(headers: Headers) -> str:
    return hex_signature(headers, "x-gitea-signature", "x-forgejo-signature")


def verify(headers: Headers, body: bytes, keyring: Keyring) -> Credential:
    return hex_body_hmac(signature(headers), body, keyring)


def parse(delivery: Delivery) -> ParseResult:
    kind = delivery.headers.get("x-gitea-event") or delivery.headers.get("x-forgejo-event")
    if not kind:
        raise MalformedError("header 'x-gitea-event' is missing")
    if kind != "push":
        return Ignored(f"gitea event {kind!r} starts nothing")
    push = load_json(_Push, delivery.body)
    delivery_id = delivery.headers.get("x-gitea-delivery") or delivery.headers.get("x-forgejo-delivery", "")
    total = len(push.commits) if push.total_commits is None else push.total_commits
    return [
        push_event(
            PushFacts(
                host="gitea",
                delivery_id=delivery_id,
                repo=push.repository.full_name,
                clone_url=push.repository.clone_url,
                ref=push.ref,
                before=push.before,
                after=push.after,
                commits=push.commits,
                total_commits=total,
                truncated=total > len(push.commits),
                pusher=push.pusher.login,
            )
        )
    ]


SOURCE = Source(name="gitea", verify=verify, parse=parse, scope=repo_of, check_headers=signature)
