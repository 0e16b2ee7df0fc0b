"""The write-back engine: turn a promotion or rollback into one commit Argo CD will sync.

Each write runs under the repo+branch lock, and each attempt is the same
short transaction against a fresh copy of the remote branch:

1. ``sync``: fetch and reset the checkout to the remote (nothing from an
   earlier failed attempt survives);
2. plan: read the deployed version from the overlay, refuse a stale write
   (an older version over a newer one, unless it is a rollback), and for a
   rollback find the previous deployment in the trailers;
3. edit the configured targets format-preservingly; no change means the repo
   already is at the target and nothing is committed;
4. commit as the bot with the message template and lineage trailers, and push
   (or push a branch and open a pull request).

When the push is rejected because the branch moved, the next attempt fetches
and replays the change on top of the new remote head: a rebase at the level
of intent rather than of text. A textual ``git rebase`` would conflict
whenever someone else touched the same line, and it would skip the stale check
against what the other writer just pushed; replaying steps 1-4 does neither.
Attempts are bounded and spaced by jittered exponential backoff (tenacity).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from core.errors import PermanentError, TemporaryError
from core.identifiers import dns_safe
from core.logging import get_logger
from gitops import lineage
from gitops.checkout import GitCheckout, PushRejectedError
from gitops.history import deployment_stack, previous_deployment
from gitops.locking import RepoBranchLock
from gitops.manifests import ManifestDocument, read_target, write_target
from gitops.promotion import CommitResult, PromotionRequest
from gitops.pull_requests import PullRequestClient, pull_request_client
from gitops.registry import ModelRegistry
from gitops.settings import EditTarget, GitOpsSettings

__all__ = ["CommitResult", "GitOpsWriter", "PromotionRequest", "StaleWriteError"]

log = get_logger(__name__)


class StaleWriteError(PermanentError):
    """The environment already runs a newer version than the one requested."""


@dataclass(frozen=True)
class _Change:
    request: PromotionRequest
    message: str
    rollback_of: str | None = None


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
        self._pull_requests = pull_requests
        if settings.mode == "pull-request" and pull_requests is None:
            self._pull_requests = pull_request_client(settings.pull_request, self._api_token())

    def _api_token(self) -> str:
        token = self._settings.pull_request.token or self._settings.token
        if token is None:
            raise PermanentError("pull-request mode needs gitops.pull_request.token (or gitops.token); set one")
        return token.get_secret_value()

    def promote(self, request: PromotionRequest) -> CommitResult:
        """Deploy the requested version; refuses unknown environments, unknown versions and stale writes."""
        overlay = self._overlay(request.environment)
        self._require_registered(request.model_name, request.version)

        def plan() -> _Change | CommitResult:
            deployed = self._deployed(overlay)
            if int(deployed) > int(request.version):
                raise StaleWriteError(
                    f"{request.environment} already runs {request.model_name} version {deployed}, newer than "
                    f"{request.version}; use rollback to go back on purpose"
                )
            return _Change(request, self._render(self._settings.commit_message, request))

        return self._write(overlay, plan)

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
            stack = deployment_stack(self._checkout.history(overlay), model_name)
            target = previous_deployment(stack, deployed, model_name, environment)
            self._require_registered(model_name, target.version)
            request = PromotionRequest.checked(
                model_name=model_name,
                version=target.version,
                model_uri=target.model_uri,
                environment=environment,
                trigger_event_id=trigger_event_id,
                run_id=target.run_id,
                training_commit=target.training_commit,
            )
            message = self._render(self._settings.rollback_message, request, reason=reason)
            return _Change(request, message, rollback_of=deployed)

        return self._write(overlay, plan)

    def deployed_version(self, environment: str) -> str:
        """The version the environment's overlay names on the remote branch right now."""
        overlay = self._overlay(environment)
        with self._lock.hold():
            self._checkout.sync()
            return self._deployed(overlay)

    def _overlay(self, environment: str) -> str:
        try:
            return self._settings.environments[environment]
        except KeyError:
            known = ", ".join(sorted(self._settings.environments))
            raise PermanentError(f"unknown environment {environment!r}; configured environments: {known}") from None

    def _require_registered(self, model_name: str, version: str) -> None:
        if self._registry is not None and self._registry.get_version(model_name, version) is None:
            raise PermanentError(
                f"{model_name} version {version} does not exist in the model registry; register it first"
            )

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

    def _write(self, overlay: str, plan: Callable[[], _Change | CommitResult]) -> CommitResult:
        retry = self._settings.push_retry
        retrying = Retrying(
            retry=retry_if_exception_type(PushRejectedError),
            stop=stop_after_attempt(retry.max_attempts),
            wait=wait_random_exponential(multiplier=retry.initial_wait_seconds, max=retry.max_wait_seconds),
            reraise=True,
        )
        with self._lock.hold():
            try:
                return retrying(self._attempt, overlay, plan)
            except PushRejectedError as e:
                raise TemporaryError(
                    f"{self._settings.branch} kept moving: push rejected {retry.max_attempts} times; retry later"
                ) from e

    def _attempt(self, overlay: str, plan: Callable[[], _Change | CommitResult]) -> CommitResult:
        self._checkout.sync()
        change = plan()
        if isinstance(change, CommitResult):
            return change
        request = change.request
        unchanged = CommitResult(sha=None, environment=request.environment, version=request.version, pushed=False)
        changed_files = self._edit(overlay, request)
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
        pull_request_url = self._publish(request, message)
        log.info(
            "gitops.pushed",
            sha=sha,
            environment=request.environment,
            model=request.model_name,
            version=request.version,
            rollback_of=change.rollback_of,
            pull_request_url=pull_request_url,
        )
        return CommitResult(
            sha=sha,
            environment=request.environment,
            version=request.version,
            pushed=True,
            pull_request_url=pull_request_url,
        )

    def _publish(self, request: PromotionRequest, message: str) -> str | None:
        if self._pull_requests is None:
            self._checkout.push(self._settings.branch)
            return None
        head = f"{self._settings.pull_request.branch_prefix}/{request.environment}/{dns_safe(request.model_name)}"
        head = f"{head}-v{request.version}"
        self._checkout.push(head, force=True)
        title, _, body = message.partition("\n")
        return self._pull_requests.open(head=head, base=self._settings.branch, title=title, body=body.strip())

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
