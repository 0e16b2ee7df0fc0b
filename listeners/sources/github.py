"""GitHub push webhooks (``X-Hub-Signature-256``).

Only the SHA-256 signature is accepted: the legacy SHA-1 ``X-Hub-Signature``
alone is refused. Both of GitHub's content types are read: ``application/json``
and its default, ``application/x-www-form-urlencoded``, where the JSON is the
form's ``payload`` field and the signature covers the raw form body. GitHub
lists at most 2048 commits in a push; when the list is that long it may be
cut, so the event says the paths may be incomplete.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from core.identifiers import GitSha, RepoName
from listeners.rejections import MalformedError
from listeners.sources.base import Delivery, Headers, Ignored, ParseResult, Source, header
from listeners.sources.git_push import HostCommit, PushFacts, push_event, repo_of
from listeners.sources.keyring import Credential, Keyring
from listeners.sources.payload import SenderModel, load_json
from listeners.sources.signing import hex_body_hmac, hex_signature

GITHUB_COMMIT_LIMIT = 2048
_PREFIX = "sha256="
_FORM = "application/x-www-form-urlencoded"


class _Repository(SenderModel):
    full_name: RepoName
    clone_url: str = ""


class _Pusher(SenderModel):
    name: str = ""


class _Push(SenderModel):
    ref: str
    before: GitSha
    after: GitSha
    forced: bool = False
    commits: list[HostCommit] = []
    repository: _Repository
    pusher: _Pusher = _Pusher()


def signature(headers: Headers) -> str:
    return hex_signature(headers, "x-hub-signature-256", prefix=_PREFIX)


def verify(headers: Headers, body: bytes, keyring: Keyring) -> Credential:
    return hex_body_hmac(signature(headers), body, keyring)


def parse(delivery: Delivery) -> ParseResult:
    kind = header(delivery.headers, "x-github-event")
    if kind != "push":
        return Ignored(f"github event {kind!r} starts nothing")
    push = load_json(_Push, _json_of(delivery))
    return [
        push_event(
            PushFacts(
                host="github",
                delivery_id=delivery.headers.get("x-github-delivery", ""),
                repo=push.repository.full_name,
                clone_url=push.repository.clone_url,
                ref=push.ref,
                before=push.before,
                after=push.after,
                commits=push.commits,
                total_commits=len(push.commits),
                truncated=len(push.commits) >= GITHUB_COMMIT_LIMIT,
                pusher=push.pusher.name,
                forced=push.forced,
            )
        )
    ]


def _json_of(delivery: Delivery) -> bytes:
    """The JSON document of the delivery: the body, or the ``payload`` field of a form-encoded one."""
    media_type = delivery.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != _FORM:
        return delivery.body
    try:
        fields = parse_qs(delivery.body.decode("ascii"), strict_parsing=True, max_num_fields=8, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise MalformedError("the form-encoded body is not a valid form") from None
    payload = fields.get("payload", [])
    if len(payload) != 1:
        raise MalformedError("a form-encoded delivery needs exactly one 'payload' field")
    return payload[0].encode()


SOURCE = Source(
    name="github",
    verify=verify,
    parse=parse,
    content_types=frozenset({"application/json", _FORM}),
    scope=repo_of,
    check_headers=signature,
)
