"""Push payloads in each git host's format, built from a real push to a local bare repository.

The commit list, SHAs and per-commit changed paths come from git itself
(``rev-list`` and ``diff-tree``), so the payloads describe exactly what was
pushed.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ZERO = "0" * 40


@dataclass(frozen=True)
class PushedCommit:
    id: str
    message: str
    author_name: str
    author_email: str
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Push:
    repo: str
    ref: str
    before: str
    after: str
    commits: list[PushedCommit]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), "-c", "user.name=Ada", "-c", "user.email=ada@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def describe_push(bare: Path, repo: str, ref: str, before: str, after: str) -> Push:
    """Read the pushed commits (oldest first) and their changed paths from the bare repository."""
    span = after if before == ZERO else f"{before}..{after}"
    shas = git(bare, "rev-list", "--reverse", span).split() if after != ZERO else []
    commits = []
    for sha in shas:
        message, name, email = git(bare, "show", "-s", "--format=%B%x00%an%x00%ae", sha).split("\x00")
        changes: dict[str, list[str]] = {"A": [], "M": [], "D": []}
        for line in git(bare, "diff-tree", "--root", "--no-commit-id", "--name-status", "-r", sha).splitlines():
            status, path = line.split("\t", 1)
            changes[status[0]].append(path)
        commits.append(PushedCommit(sha, message.strip(), name, email, changes["A"], changes["M"], changes["D"]))
    return Push(repo, ref, before, after, commits)


def _commit(c: PushedCommit) -> dict[str, Any]:
    return {
        "id": c.id,
        "message": c.message,
        "timestamp": "2026-11-26T09:00:00Z",
        "author": {"name": c.author_name, "email": c.author_email, "username": "ada"},
        "added": c.added,
        "modified": c.modified,
        "removed": c.removed,
    }


def github_payload(push: Push) -> dict[str, Any]:
    return {
        "ref": push.ref,
        "before": push.before,
        "after": push.after,
        "created": push.before == ZERO,
        "deleted": push.after == ZERO,
        "forced": False,
        "compare": f"https://github.com/{push.repo}/compare/{push.before[:12]}...{push.after[:12]}",
        "commits": [_commit(c) for c in push.commits],
        "head_commit": _commit(push.commits[-1]) if push.commits else None,
        "repository": {"full_name": push.repo, "clone_url": f"https://github.com/{push.repo}.git"},
        "pusher": {"name": "ada", "email": "ada@example.com"},
        "sender": {"login": "ada"},
    }


def gitlab_payload(push: Push, *, cap: int = 20) -> dict[str, Any]:
    """GitLab lists at most ``cap`` commits (the newest) and reports the real count separately."""
    listed = push.commits[-cap:]
    return {
        "object_kind": "tag_push" if push.ref.startswith("refs/tags/") else "push",
        "ref": push.ref,
        "before": push.before,
        "after": push.after,
        "checkout_sha": push.after,
        "user_username": "ada",
        "user_name": "Ada",
        "project": {"path_with_namespace": push.repo, "git_http_url": f"https://gitlab.example.com/{push.repo}.git"},
        "commits": [_commit(c) for c in listed],
        "total_commits_count": len(push.commits),
    }


def gitea_payload(push: Push) -> dict[str, Any]:
    return {
        "ref": push.ref,
        "before": push.before,
        "after": push.after,
        "compare_url": f"https://gitea.example.com/{push.repo}/compare/{push.before}...{push.after}",
        "commits": [_commit(c) for c in push.commits],
        "total_commits": len(push.commits),
        "head_commit": _commit(push.commits[-1]) if push.commits else None,
        "repository": {"full_name": push.repo, "clone_url": f"https://gitea.example.com/{push.repo}.git"},
        "pusher": {"login": "ada"},
    }
