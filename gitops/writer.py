"""The write-back engine: turn promotions and rollbacks into commits Argo CD will sync.

Writes to one branch are grouped (:mod:`gitops.group_commit`): a promotion
joins the branch's queue, and whoever holds the repo+branch lock writes the
whole queue as one batch. A batch is one short transaction against a fresh
copy of the remote branch:

1. ``sync``: fetch and reset the checkout to the remote (nothing from an
   earlier failed attempt survives);
2. for each write, promotions in ascending version order: plan it (read the
   deployed version from the overlay; refuse a version older than the one
   deployed, unless it is a rollback, which finds the previous deployment in
   the trailers), edit the configured targets format-preservingly, and
   commit as the bot with the message template and that write's own lineage
   trailers. A write that changes nothing (the repo already is at the
   target) makes no commit; a refused one leaves the tree as it found it;
3. push once (or, in pull-request mode, push a branch and open a pull
   request per commit, each branched off the remote branch); after a
   direct push, with ``gitops.argocd_refresh`` on, ask Argo CD to look at
   each written environment now (:mod:`gitops.argocd_refresh`).

Sorting by version is what lets concurrent promotions all land: versions
1..20 asked for together become twenty commits in ascending order, so none
of them is older than what is deployed when its turn comes. Only a version
older than what the fetched repo already runs is refused as stale. Each
caller gets its own outcome: its commit, "already at the target", or the
refusal.

When the push is rejected because the branch moved, the next attempt fetches
and replays the whole batch on top of the new remote head: a rebase at the
level of intent rather than of text. A textual ``git rebase`` would conflict
whenever someone else touched the same line, and it would skip the stale
check against what the other writer just pushed; replaying does neither.
Attempts are bounded and spaced by jittered exponential backoff (tenacity).
The lock is also a file lock, so processes sharing a checkout take turns;
writers with separate checkouts meet at the remote and settle by the same
fetch-replay-retry.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from core.errors import PermanentError, TemporaryError
from core.identifiers import dns_safe
from core.logging import get_logger
from gitops import lineage
from gitops.argocd_refresh import ArgoCdRefresh
from gitops.checkout import GitCheckout, PushRejectedError
from gitops.group_commit import GroupCommit, Ticket
from gitops.history import deployment_stack, previous_deployment
from gitops.locking import RepoBranchLock
from gitops.manifests import ManifestDocument, read_target, write_target
from gitops.promotion import CommitResult, PromotionRequest
from gitops.pull_requests import PullRequestClient, pull_request_client
from gitops.registry import ModelRegistry, RegisteredVersion, registry_uri
from gitops.settings import EditTarget, GitOpsSettings

__all__ = ["CommitResult", "GitOpsWriter", "PendingPromotion", "PromotionRequest", "StaleWriteError"]

log = get_logger(__name__)


class StaleWriteError(PermanentError):
    """The environment already runs a newer version than the one requested."""


@dataclass(frozen=True)
class _Change:
    request: PromotionRequest
    message: str
    rollback_of: str | None = None


@dataclass(frozen=True)
class _Write:
    """One queued write: its overlay, its place in a batch, and how to plan it against the fetched repo."""

    overlay: str
    order: int
    plan: Callable[[], _Change | CommitResult]


@dataclass(frozen=True)
class _Committed:
    change: _Change
    sha: str


PendingPromotion = Ticket[_Write, CommitResult]


class GitOpsWriter:
    """Promotes and rolls back model versions by committing to the GitOps repo."""

    def __init__(
        self,
        settings: GitOpsSettings,
        registry: ModelRegistry | None = None,
        pull_requests: PullRequestClient | None = None,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._checkout = GitCheckout(settings)
        self._lock = RepoBranchLock(
            settings.repo_url, settings.branch, self._checkout.path, settings.lock_timeout_seconds
        )
        self._queue: GroupCommit[_Write, CommitResult] = GroupCommit(self._lock, self._write_batch)
        self._pull_requests = pull_requests
        # Only a direct push deploys: a pull request's commit is not on the branch Argo CD follows yet.
        refresh = settings.argocd_refresh.enabled and settings.mode == "direct"
        self._argocd_refresh = ArgoCdRefresh(settings.argocd_refresh) if refresh else None
        if settings.mode == "pull-request" and pull_requests is None:
            self._pull_requests = pull_request_client(settings.pull_request, self._api_token())

    def _api_token(self) -> str:
        token = self._settings.pull_request.token or self._settings.token
        if token is None:
            raise PermanentError("pull-request mode needs gitops.pull_request.token (or gitops.token); set one")
        return token.get_secret_value()

    def promote(self, request: PromotionRequest) -> CommitResult:
        """Deploy the requested version; refuses unknown environments, unknown versions and stale writes."""
        return self.submit(request).result()

    def submit(self, request: PromotionRequest) -> PendingPromotion:
        """Queue a promotion and return at once; ``result()`` of the answer waits for its commit.

        Unknown environments and versions are refused here, before queueing.
        Promotions submitted before a batch is written go into it in
        ascending version order, whatever order they were submitted in.
        """
        overlay = self._overlay(request.environment)
        registered = self._require_registered(request.model_name, request.version)
        if registered is not None:
            # A stage or alias change names no run or commit; the registered version records what it came from
            # (checked like the rest of the request: both become trailers).
            request = PromotionRequest.checked(
                **request.model_dump()
                | {
                    "run_id": request.run_id or registered.run_id,
                    "training_commit": request.training_commit or registered.training_commit,
                }
            )

        def plan() -> _Change:
            deployed = self._deployed(overlay)
            if int(deployed) > int(request.version):
                raise StaleWriteError(
                    f"{request.environment} already runs {request.model_name} version {deployed}, newer than "
                    f"{request.version}; use rollback to go back on purpose"
                )
            return _Change(request, self._render(self._settings.commit_message, request))

        return self._queue.submit(_Write(overlay, int(request.version), plan))

    def rollback(
        self,
        model_name: str,
        environment: str,
        *,
        reason: str,
        trigger_event_id: str,
        only_if_deployed: str | None = None,
    ) -> CommitResult:
        """Go back to the version deployed before the current one, as recorded in the repo's trailers.

        With ``only_if_deployed``, nothing happens unless that version is the
        deployed one when the lock is held: a demotion of a version that is
        not running (any more) must not roll back its successor.
        """
        overlay = self._overlay(environment)

        def plan() -> _Change | CommitResult:
            deployed = self._deployed(overlay)
            if only_if_deployed is not None and deployed != only_if_deployed:
                log.info(
                    "gitops.rollback_skipped", environment=environment, deployed=deployed, demoted=only_if_deployed
                )
                return CommitResult(sha=None, environment=environment, version=deployed, pushed=False)
            stack = deployment_stack(self._checkout.history(overlay), model_name, bot_email=self._settings.bot_email)
            target = previous_deployment(stack, deployed, model_name, environment)
            registered = self._require_registered(model_name, target.version)
            request = PromotionRequest.checked(
                model_name=model_name,
                version=target.version,
                model_uri=registry_uri(model_name, target.version),
                environment=environment,
                trigger_event_id=trigger_event_id,
                run_id=registered.run_id if registered else target.run_id,
                training_commit=target.training_commit or (registered.training_commit if registered else None),
            )
            message = self._render(self._settings.rollback_message, request, reason=reason)
            return _Change(request, message, rollback_of=deployed)

        # A rollback goes back on purpose: it is written on its own, never sorted among promotions.
        with self._lock.hold():
            (outcome,) = self._write_batch([_Write(overlay, 0, plan)])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _overlay(self, environment: str) -> str:
        try:
            return self._settings.environments[environment]
        except KeyError:
            known = ", ".join(sorted(self._settings.environments))
            raise PermanentError(f"unknown environment {environment!r}; configured environments: {known}") from None

    def _require_registered(self, model_name: str, version: str) -> RegisteredVersion | None:
        """The registered version (None without a registry); refuses a version the registry does not know."""
        if self._registry is None:
            return None
        registered = self._registry.get_version(model_name, version)
        if registered is None:
            raise PermanentError(
                f"{model_name} version {version} does not exist in the model registry; register it first"
            )
        return registered

    def _deployed(self, overlay: str) -> str:
        target = self._settings.version_target
        version = read_target(ManifestDocument.load(self._target_path(overlay, target)), target)
        if not version.isdigit():
            raise PermanentError(f"{overlay}/{target.file} holds version {version!r}, not a number; fix it by hand")
        return version

    def _target_path(self, overlay: str, target: EditTarget) -> Path:
        root = self._checkout.path
        path = (root / overlay / target.file).resolve()
        if not path.is_relative_to(root):
            raise PermanentError(f"target file {overlay}/{target.file} lies outside the GitOps repo; fix the settings")
        return path

    def _render(self, template: str, request: PromotionRequest, **extra: str) -> str:
        fields = {key: value or "" for key, value in request.template_fields().items()} | extra
        try:
            return template.format_map(fields)
        except (KeyError, IndexError, ValueError) as e:
            raise PermanentError(f"message template {template!r} is invalid ({e}); use {sorted(fields)}") from e

    def _write_batch(self, batch: list[_Write]) -> list[CommitResult | Exception]:
        """Write every item in one fetch-commit-push round; the outcome of each, in the order given."""
        retry = self._settings.push_retry
        retrying = Retrying(
            retry=retry_if_exception_type(PushRejectedError),
            stop=stop_after_attempt(retry.max_attempts),
            wait=wait_random_exponential(multiplier=retry.initial_wait_seconds, max=retry.max_wait_seconds),
            reraise=True,
        )
        try:
            return retrying(self._attempt, batch)
        except PushRejectedError as e:
            raise TemporaryError(
                f"{self._settings.branch} kept moving: push rejected {retry.max_attempts} times; retry later"
            ) from e

    def _attempt(self, batch: list[_Write]) -> list[CommitResult | Exception]:
        self._checkout.sync()
        outcomes: dict[int, CommitResult | Exception] = {}
        committed: dict[int, _Committed] = {}
        pull_requests = self._pull_requests
        ascending = sorted(range(len(batch)), key=lambda index: batch[index].order)
        for position, index in enumerate(ascending):
            if position and pull_requests is not None:
                self._checkout.sync()  # each pull request branches off the remote branch, not off its batch mates
            try:
                outcome = self._commit(batch[index])
            except PermanentError as e:
                outcomes[index] = e
                continue
            if isinstance(outcome, CommitResult):
                outcomes[index] = outcome
            elif pull_requests is not None:
                outcomes[index] = self._open_pull_request(pull_requests, outcome)
            else:
                committed[index] = outcome
        if committed:
            self._checkout.push(self._settings.branch)
        for index, commit in committed.items():
            outcomes[index] = self._pushed(commit)
        if self._argocd_refresh is not None:
            for environment in sorted({commit.change.request.environment for commit in committed.values()}):
                self._argocd_refresh.refresh(environment)
        log.info("gitops.batch_written", writes=len(batch), commits=len(committed))
        return [outcomes[index] for index in range(len(batch))]

    def _commit(self, write: _Write) -> _Committed | CommitResult:
        """Plan and commit one write locally; a CommitResult when there is nothing to commit."""
        change = write.plan()
        if isinstance(change, CommitResult):
            return change
        request = change.request
        unchanged = CommitResult(sha=None, environment=request.environment, version=request.version, pushed=False)
        changed_files = self._edit(write.overlay, request)
        if not changed_files:
            log.info("gitops.already_at_target", environment=request.environment, version=request.version)
            return unchanged
        trailers = {
            lineage.MODEL_NAME: request.model_name,
            lineage.MODEL_VERSION: request.version,
            lineage.MODEL_SOURCE: request.model_uri,
            lineage.MLFLOW_RUN_ID: request.run_id,
            lineage.TRAINING_COMMIT: request.training_commit,
            lineage.TRIGGER_EVENT_ID: request.trigger_event_id,
            lineage.ARGO_WORKFLOW: request.argo_workflow,
            lineage.ROLLBACK_OF: change.rollback_of,
        }
        message = lineage.with_trailers(change.message, trailers)
        sha = self._checkout.commit(changed_files, message)
        if sha is None:
            return unchanged
        return _Committed(replace(change, message=message), sha)

    def _pushed(self, commit: _Committed, pull_request_url: str | None = None) -> CommitResult:
        request = commit.change.request
        log.info(
            "gitops.pushed",
            sha=commit.sha,
            environment=request.environment,
            model=request.model_name,
            version=request.version,
            rollback_of=commit.change.rollback_of,
            pull_request_url=pull_request_url,
        )
        return CommitResult(
            sha=commit.sha,
            environment=request.environment,
            version=request.version,
            pushed=True,
            pull_request_url=pull_request_url,
        )

    def _open_pull_request(self, pull_requests: PullRequestClient, commit: _Committed) -> CommitResult:
        request = commit.change.request
        head = f"{self._settings.pull_request.branch_prefix}/{request.environment}/{dns_safe(request.model_name)}"
        head = f"{head}-v{request.version}"
        self._checkout.push(head, force=True)
        title, _, body = commit.change.message.partition("\n")
        url = pull_requests.open(head=head, base=self._settings.branch, title=title, body=body.strip())
        return self._pushed(commit, url)

    def _edit(self, overlay: str, request: PromotionRequest) -> list[str]:
        """Apply every target to the overlay; the repo-relative paths of the files that changed."""
        fields = request.template_fields()
        documents: dict[Path, ManifestDocument] = {}
        changed: set[Path] = set()
        for target in self._settings.targets:
            path = self._target_path(overlay, target)
            document = documents.setdefault(path, ManifestDocument.load(path))
            if write_target(document, target, _render_value(target, fields)):
                changed.add(path)
        for path in changed:
            documents[path].save()
        return sorted(str(path.relative_to(self._checkout.path)) for path in changed)


def _render_value(target: EditTarget, fields: dict[str, str | None]) -> str:
    names = [name for _, name, _, _ in string.Formatter().parse(target.value) if name]
    missing = [name for name in names if not fields.get(name)]
    if missing:
        raise PermanentError(f"target {target.kind} {target.file} needs {missing} but the request carries none")
    return target.value.format_map(fields)
