"""What the three git hosts' push payloads have in common.

GitHub, GitLab and Gitea describe a push with nearly the same fields under
slightly different names. Each host module maps its payload onto
:class:`PushFacts`; this module turns that into the one ``Event`` the rules
read, so "created", "deleted", "tag" and "truncated" mean the same whichever
host sent the push.

The idempotency key is made of the push itself: host, repository, ref, and
the ``before`` and ``after`` commits, all inside the signed body (GitHub,
Gitea) or the token-authenticated one (GitLab). The hosts' delivery ids
(``X-GitHub-Delivery``, ``X-Gitea-Delivery``, GitLab's ``Idempotency-Key``)
are headers no signature covers: keyed on them, a captured delivery sent
again under a new id would start a new run. They are kept on the event for
display only. A ref moving from the same commit to the same commit twice (a
force-push back and forth) is the same push, and what it asks to run has
already run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from core.identifiers import GitSha
from listeners.sources.payload import SenderModel
from triggers.event import Commit, Event, EventType, PushData

ZERO_SHA = "0" * 40
GitHost = Literal["github", "gitlab", "gitea"]


class Author(SenderModel):
    name: str = ""
    email: str = ""


class HostCommit(SenderModel):
    """A commit as all three hosts list it in a push."""

    id: GitSha
    message: str = ""
    author: Author = Field(default_factory=Author)
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def to_commit(self) -> Commit:
        return Commit(
            id=self.id,
            message=self.message,
            author_name=self.author.name,
            author_email=self.author.email,
            added=self.added,
            modified=self.modified,
            removed=self.removed,
        )


@dataclass(frozen=True)
class PushFacts:
    host: GitHost
    delivery_id: str
    """The host's own id of this delivery (unsigned): shown, never part of the key."""
    repo: str
    clone_url: str
    ref: str
    before: str
    after: str
    commits: Sequence[HostCommit]
    total_commits: int
    truncated: bool
    pusher: str = ""
    forced: bool = False


def push_event(facts: PushFacts) -> Event:
    data = PushData(
        host=facts.host,
        repo=facts.repo,
        clone_url=facts.clone_url,
        ref=facts.ref,
        before=facts.before,
        after=facts.after,
        created=_is_zero(facts.before),
        deleted=_is_zero(facts.after),
        forced=facts.forced,
        pusher=facts.pusher,
        commits=tuple(c.to_commit() for c in facts.commits),
        total_commits=facts.total_commits,
        commits_truncated=facts.truncated,
    )
    return Event(
        source=f"{facts.host}/{facts.repo}",
        type=EventType.GIT_TAG if data.tag is not None else EventType.GIT_PUSH,
        subject=facts.ref,
        data=data,
        idempotency_key=push_key(facts.host, facts.repo, facts.ref, facts.before, facts.after),
        delivery_id=facts.delivery_id,
    )


def push_key(host: str, repo: str, ref: str, before: str, after: str) -> str:
    """The idempotency key of a push, from signed fields only (see the module docstring)."""
    return f"{host}:push:{repo}:{ref}:{before}:{after}"


def repo_of(event: Event) -> str | None:
    return event.data.repo if isinstance(event.data, PushData) else None


def _is_zero(sha: str) -> bool:
    return bool(sha) and set(sha) == {"0"}
