"""A working copy of a git repository at exactly one commit.

A push starts a run at the pushed commit, and that commit is what must be
trained: the checkout is detached at the SHA (never a branch tip, which may
have moved since). Checkouts are cached per repository and commit under the
work directory, so retries and later steps of the same run reuse them.

A run started without a commit (new data, say) trains the head of a branch.
That head is resolved once, when the code is needed, into the SHA it names
at that moment, and from then on the run works with that SHA like any other:
it is what gets checked out and what the lineage records. In Argo the branch
arrives as a git artifact in the run's own directory (``heads/<branch>``);
its checked-out commit is the resolved SHA, so nothing is cloned in the pod.

One file at one commit (``mlops.yaml``, when a run is submitted) is read by
fetching only that commit, without a working copy.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

from git import Git, GitCommandError, Repo

from core.errors import PermanentError, TemporaryError
from core.identifiers import GIT_SHA_PATTERN


def checkouts_root(repo_url: str, work_dir: str) -> Path:
    """The directory under which every checkout of ``repo_url`` lives (one sub-directory per revision)."""
    return Path(work_dir) / "checkouts" / hashlib.sha256(repo_url.encode()).hexdigest()[:16]


def revision_dir(commit: str | None, branch: str) -> str:
    """The sub-directory of a checkout: the commit, else ``heads/<branch>`` for a head resolved at run time."""
    return commit or f"heads/{branch}"


def checkout(repo_url: str, commit: str, work_dir: str) -> Path:
    """Return a directory holding ``repo_url`` checked out at ``commit``."""
    target = checkouts_root(repo_url, work_dir) / commit
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


def resolve_head(repo_url: str, branch: str) -> str:
    """The SHA the head of ``branch`` in ``repo_url`` names right now."""
    try:
        listing = str(Git().ls_remote("--heads", "--", repo_url, f"refs/heads/{branch}"))
    except GitCommandError as e:
        raise TemporaryError(f"cannot list the branches of {repo_url}: {e.stderr.strip()}; check the URL") from e
    if not listing:
        raise PermanentError(f"branch {branch} does not exist in {repo_url}; give an existing branch or a commit")
    sha = listing.split(maxsplit=1)[0]
    if not re.fullmatch(GIT_SHA_PATTERN, sha):  # it names paths and image tags: the remote's answer is checked too
        raise PermanentError(f"{repo_url} answered {sha[:80]!r} for the head of {branch}, which is not a commit id")
    return sha


def checkout_revision(repo_url: str, commit: str | None, branch: str, work_dir: str) -> tuple[Path, str]:
    """Check out ``commit``, or the head of ``branch`` when there is none; return the directory and its full SHA."""
    delivered = checkouts_root(repo_url, work_dir) / revision_dir(None, branch)
    if commit is None and (delivered / ".git").is_dir():
        return delivered, Repo(delivered).head.commit.hexsha
    target = checkout(repo_url, commit or resolve_head(repo_url, branch), work_dir)
    return target, Repo(target).head.commit.hexsha


def file_at(repo_url: str, commit: str, path: str) -> str | None:
    """The text of ``path`` in ``repo_url`` at ``commit`` (``None`` if it has no such file), with no checkout.

    Only that commit is fetched, without its history, into a throw-away repository.
    """
    with tempfile.TemporaryDirectory(prefix="mlops-file-at-") as scratch:
        repo = Repo.init(scratch)
        try:
            repo.git.fetch("--depth=1", "--no-tags", "--", repo_url, commit)
        except GitCommandError as e:
            raise _fetch_failure(repo_url, commit, e) from e
        try:
            return str(repo.git.show(f"{commit}:{path}"))
        except GitCommandError:
            return None


def _fetch_failure(repo_url: str, commit: str, error: GitCommandError) -> TemporaryError | PermanentError:
    """Why fetching ``commit`` failed: the repository answers, so it lacks the commit; or it cannot be reached."""
    try:
        Git().ls_remote("--", repo_url, "HEAD")
    except GitCommandError:
        return TemporaryError(
            f"cannot fetch {commit} from {repo_url}: {error.stderr.strip()}; check the URL and access"
        )
    return PermanentError(f"commit {commit} is not in {repo_url}: {error.stderr.strip()}")
