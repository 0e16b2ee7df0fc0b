"""``WorkflowBackend`` on Argo Workflows, with Hera's ``WorkflowsService`` as the REST client.

Building and sending are kept apart: ``workflows.pipelines.build_workflow``
renders the Hera ``Workflow`` without touching the network, and this class
talks to the Argo Server (and, before rendering, looks up the image a
repository's code runs in: ``workflows.argo.repository_image``). The run name is the Workflow's
``metadata.name`` and is deterministic, so the Argo Server's 409 on create is
the proof that an earlier attempt already submitted this action.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from http import HTTPStatus

import requests
from hera.workflows import Workflow, WorkflowsService
from hera.workflows.models import WorkflowCreateRequest, WorkflowStopRequest
from pydantic import BaseModel

from core.errors import PermanentError
from core.logging import get_logger
from workflows.argo.repository_image import repository_image
from workflows.argo.session import ArgoSession, classify, status_code
from workflows.argo.status import run_status
from workflows.argo.token import BearerToken
from workflows.backend import RunStatus
from workflows.pipelines import build_workflow
from workflows.settings import ArgoSettings
from workflows.trust import refuse_untrusted

log = get_logger(__name__)


class ArgoBackend:
    """Submits pipelines as Argo Workflows and reads their status back from the Argo Server."""

    def __init__(self, settings: ArgoSettings, *, code_repos: Collection[str]) -> None:
        self._settings = settings
        self._code_repos = frozenset(code_repos)
        token = BearerToken(
            literal=settings.token.get_secret_value() if settings.token else None, path=settings.token_file
        )
        self._session = ArgoSession(timeout_seconds=settings.request_timeout_seconds, token=token)
        self._service = WorkflowsService(
            host=settings.server_url.rstrip("/") + "/",
            token=None,  # the session sets it per request: a token file is re-read when rotated
            namespace=settings.namespace,
            verify_ssl=settings.verify_tls,
            session=self._session,
        )

    def submit(self, pipeline: str, params: BaseModel, *, run_name: str, labels: Mapping[str, str]) -> str:
        refuse_untrusted(params, self._code_repos)
        params, image = repository_image(params, self._settings.repository_images)
        workflow = build_workflow(
            pipeline, params, run_name=run_name, labels=labels, settings=self._settings, repository_image=image
        )
        return self.submit_workflow(workflow)

    def submit_workflow(self, workflow: Workflow) -> str:
        """Create ``workflow`` on the Argo Server; an existing Workflow of the same name counts as submitted."""
        name = str(workflow.name)
        request = WorkflowCreateRequest(namespace=self._settings.namespace, workflow=workflow.build())
        try:
            self._service.create_workflow(request)
        except requests.RequestException as e:
            if status_code(e) == HTTPStatus.CONFLICT:
                log.info("argo.workflow_already_submitted", workflow=name, namespace=self._settings.namespace)
                return name
            raise classify(e, f"submitting workflow {name}") from e
        log.info("argo.workflow_submitted", workflow=name, namespace=self._settings.namespace)
        return name

    def status(self, run_name: str) -> RunStatus:
        try:
            workflow = self._service.get_workflow(run_name)
        except requests.RequestException as e:
            if status_code(e) == HTTPStatus.NOT_FOUND:
                raise PermanentError(
                    f"no workflow named {run_name} in namespace {self._settings.namespace}; "
                    "it was never submitted or has been garbage-collected"
                ) from e
            raise classify(e, f"reading the status of workflow {run_name}") from e
        return run_status(workflow)

    def cancel(self, run_name: str) -> None:
        """Stop ``run_name`` (its exit handlers still run); a run that no longer exists needs nothing."""
        request = WorkflowStopRequest(
            name=run_name, namespace=self._settings.namespace, message="stopped by mlops-gitops"
        )
        try:
            self._service.stop_workflow(run_name, request)
        except requests.RequestException as e:
            if status_code(e) == HTTPStatus.NOT_FOUND:
                log.info("argo.workflow_already_gone", workflow=run_name, namespace=self._settings.namespace)
                return
            raise classify(e, f"stopping workflow {run_name}") from e
        log.info("argo.workflow_stopped", workflow=run_name, namespace=self._settings.namespace)

    def close(self) -> None:
        self._session.close()
