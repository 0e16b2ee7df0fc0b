"""A working copy of a git repository at exactly one commit.

A push starts a run at the pushed commit, and that commit is what must be
trained: the checkout is detached at the SHA (never a branch tip, which may
have moved since). Checkouts are cached per repository and commit under the
work directory, so retries and later steps of the same run reuse them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from git import GitCommandError, Repo

from core.errors import PermanentError, TemporaryError


def checkout(repo_url: str, commit: str, work_dir: str) -> Path:
    """Return a directory holding ``repo_url`` checked out at ``commit``."""
    repo_key = hashlib.sha256(repo_url.encode()).hexdigest()[:16]
    target = Path(work_dir) / "checkouts" / repo_key / commit
    if (target / ".git").is_dir() and Repo(target).head.commit.hexsha.startswith(commit):
        return target
    try:
        repo = Repo.clone_from(repo_url, target, no_checkout=True, multi_options=["--no-tags"])
    except GitCommandError as e:
        raise TemporaryError(f"cannot clone {repo_url}: {e.stderr.strip()}; check the URL and access") from e
    try:
        repo.git.checkout("--detach", commit)
    except GitCommandError as e:
        raise PermanentError(f"commit {commit} is not in {repo_url}: {e.stderr.strip()}") from e
    return target
