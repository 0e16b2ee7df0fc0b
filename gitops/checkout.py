"""The bot's local checkout of the GitOps repo, and the git transport behind it.

GitPython drives the real ``git`` binary, so every transport git supports
works: a local path, HTTPS with a token, SSH with a key. Credentials travel
only in the environment of each git process (an ``http.extraHeader`` given
through ``GIT_CONFIG_*`` variables, or ``GIT_SSH_COMMAND``), never in the
remote URL or ``.git/config``, so they are neither written to disk nor shown
in error messages.

Every write starts from :meth:`GitCheckout.sync`, which makes the work tree an
exact copy of the remote branch: whatever an earlier attempt left behind (an
unpushed commit, an edited file, a stale index lock of a killed process) is
discarded, so nothing half-written can leak into the next commit.

git's stderr is sorted into the service's error taxonomy: a rejected
credential is a :class:`PermanentError`, an unreachable remote a
:class:`TemporaryError`, and a push that lost a race a :class:`PushRejectedError`
the writer answers with fetch, rebase and retry. A remote without the
repository is a wrong URL the first time, but an outage (a host restoring
it, a volume not mounted yet) once this checkout has fetched from it.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from core.errors import PermanentError, TemporaryError
from gitops.settings import GitOpsSettings


class PushRejectedError(TemporaryError):
    """The remote branch moved since the fetch; fetch, rebase and push again."""


class RepositoryMissingError(PermanentError):
    """No git repository at the remote URL."""


_REJECTED = ("[rejected]", "non-fast-forward", "fetch first", "failed to update ref", "cannot lock ref")
_CREDENTIAL_REFUSED = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "permission denied (publickey",
    "access denied",
    "returned error: 401",
    "returned error: 403",
    "invalid username or password",
    "host key verification failed",
)
_NOT_A_REPO = (
    "does not appear to be a git repository",
    "repository not found",
    "returned error: 404",
    "does not exist",
)
_NO_BRANCH = ("couldn't find remote ref",)


def classify_git_error(error: GitCommandError, action: str) -> TemporaryError | PermanentError:
    """Map a failed git command onto the error taxonomy, with a message that says what to do."""
    stderr = str(error.stderr or "").strip()
    lowered = f"{stderr}\n{error.stdout or ''}".lower()
    if any(marker in lowered for marker in _REJECTED):
        return PushRejectedError(f"{action}: the remote moved on ({stderr})")
    if any(marker in lowered for marker in _CREDENTIAL_REFUSED):
        return PermanentError(f"{action}: the git remote refused the credential; check gitops.token or ssh_key_path")
    if any(marker in lowered for marker in _NOT_A_REPO):
        return RepositoryMissingError(f"{action}: no git repository at the remote; check gitops.repo_url ({stderr})")
    if any(marker in lowered for marker in _NO_BRANCH):
        return PermanentError(
            f"{action}: the remote lacks the branch; push the repo `mlops-gitops gitops init` creates"
        )
    return TemporaryError(f"{action}: the git remote is unreachable or failed; retry later ({stderr})")


def git_environment(settings: GitOpsSettings) -> dict[str, str]:
    """Environment for every git process: no prompts, credentials for this one call only."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
    if settings.token is not None:
        basic = base64.b64encode(f"{settings.token_username}:{settings.token.get_secret_value()}".encode()).decode()
        env |= {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        }
    if settings.ssh_key_path is not None:
        ssh = ["ssh", "-i", settings.ssh_key_path, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
        if settings.ssh_known_hosts_path is not None:
            ssh += ["-o", f"UserKnownHostsFile={settings.ssh_known_hosts_path}", "-o", "StrictHostKeyChecking=yes"]
        else:
            ssh += ["-o", "StrictHostKeyChecking=accept-new"]
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)
    return env


@dataclass(frozen=True)
class LoggedCommit:
    sha: str
    author_email: str
    message: str


class GitCheckout:
    """A clone of one branch of the GitOps repo that the bot edits, commits and pushes from."""

    def __init__(self, settings: GitOpsSettings) -> None:
        self._settings = settings
        self.path = Path(settings.work_dir).resolve()
        self._env = git_environment(settings)
        self._repo: git.Repo | None = None

    @property
    def repo(self) -> git.Repo:
        if self._repo is None:
            self._repo = self._open_or_clone()
        return self._repo

    @contextmanager
    def _git_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except GitCommandError as e:
            error = classify_git_error(e, action)
            if isinstance(error, RepositoryMissingError) and self._fetched_before():
                raise TemporaryError(
                    f"{action}: the git remote this checkout fetched from has no repository now; retry once it is "
                    f"back ({str(e.stderr or '').strip()})"
                ) from e
            raise error from e

    def _fetched_before(self) -> bool:
        """Whether the branch was ever fetched into this checkout (its remote-tracking ref exists)."""
        if self._repo is None:
            return False
        try:
            self._repo.git.rev_parse("--verify", "--quiet", self._remote_ref)
        except GitCommandError:
            return False
        return True

    def _open_or_clone(self) -> git.Repo:
        try:
            repo = git.Repo(self.path)
        except (InvalidGitRepositoryError, NoSuchPathError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._git_errors(f"clone {self._settings.repo_url}"):
                repo = git.Repo.clone_from(
                    self._settings.repo_url, self.path, env=self._env, no_checkout=True, multi_options=["--no-tags"]
                )
        repo.git.update_environment(**self._env)
        with repo.config_writer() as config:
            config.set_value('remote "origin"', "url", self._settings.repo_url)
        return repo

    @property
    def _remote_ref(self) -> str:
        return f"refs/remotes/origin/{self._settings.branch}"

    def sync(self) -> None:
        """Fetch the branch and make the work tree exactly the remote's, discarding any leftovers."""
        branch = self._settings.branch
        stale_index_lock = self.path / ".git" / "index.lock"
        stale_index_lock.unlink(missing_ok=True)  # only a killed writer leaves it; we hold the repo lock
        with self._git_errors(f"fetch {branch}"):
            self.repo.git.fetch("origin", f"+refs/heads/{branch}:{self._remote_ref}", "--prune", "--no-tags")
        with self._git_errors(f"reset to origin/{branch}"):
            self.repo.git.checkout("-B", branch, self._remote_ref, "--force")
            self.repo.git.clean("-ffdx")

    def commit(self, paths: list[str], message: str) -> str | None:
        """Commit the changes under ``paths`` as the bot; None when there is nothing to commit."""
        with self._git_errors("commit"):
            self.repo.git.add("--", *paths)
            if not self.repo.git.diff("--cached", "--name-only"):
                return None
            self.repo.git.commit(
                "-q", "--no-verify", "--no-gpg-sign", "--cleanup=whitespace", "-m", message, env=self._bot_identity()
            )
        return self.head_sha()

    def _bot_identity(self) -> Mapping[str, str]:
        name, email = self._settings.bot_name, self._settings.bot_email
        return {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }

    def head_sha(self) -> str:
        return str(self.repo.head.commit.hexsha)

    def push(self, branch: str, *, force: bool = False) -> None:
        """Push HEAD to ``branch`` of the remote; raises :class:`PushRejectedError` when it moved on."""
        refspec = f"{'+' if force else ''}HEAD:refs/heads/{branch}"
        with self._git_errors(f"push to {branch}"):
            self.repo.git.push("origin", refspec)

    def history(self, path: str) -> list[LoggedCommit]:
        """Commits of the fetched branch that touched ``path``, oldest first."""
        with self._git_errors(f"log {path}"):
            output = self.repo.git.log(
                "-z", "--reverse", f"--format={LOG_FORMAT}", self._remote_ref, "--", path, strip_newline_in_stdout=False
            )
            return parse_log(output)


# Each commit is its sha, author e-mail and raw message, each field ended by a NUL (``-z`` ends the record with
# one more). NUL is the one byte git refuses in a commit message, so no message can forge a field or a commit;
# other separators (ASCII record/unit separators) are allowed in messages and were forgeable.
LOG_FORMAT = "%H%x00%ae%x00%B"


def parse_log(output: str) -> list[LoggedCommit]:
    """The commits of ``git log -z --format=LOG_FORMAT`` output."""
    fields = output.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    if len(fields) % 3:
        raise PermanentError(f"git log output has {len(fields)} fields, not three per commit")
    return [
        LoggedCommit(sha.lstrip("\n"), email, message)
        for sha, email, message in zip(fields[0::3], fields[1::3], fields[2::3], strict=True)
    ]
