"""MLflow access shared by the training, evaluation and registration steps.

It keeps three things in one place: the lineage tag names (the GitOps side
and the model server read them back), how the current champion is found
(alias ``champion`` first, else the newest ``Production`` version, since teams
use either), and how MLflow failures become errors the dispatcher can act on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException, RestException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

from core.errors import PermanentError, TemporaryError

TAG_GIT_SHA = "mlops.git_sha"
TAG_REPO_URL = "mlops.repo_url"
TAG_DATA_PARTITIONS = "mlops.data_partitions"
TAG_FEATURE_VIEWS = "mlops.feature_views"
TAG_FEATURE_SERVICE = "mlops.feature_service"
TAG_TRIGGER_EVENT_ID = "mlops.trigger_event_id"
TAG_WORKFLOW_NAME = "mlops.workflow_name"

CHAMPION_ALIAS = "champion"
CHAMPION_STAGE = "Production"

_NOT_FOUND = ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)
_SERVER_SIDE = frozenset({"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"})


@contextmanager
def mlflow_errors(action: str) -> Iterator[None]:
    """Re-raise MLflow failures of ``action`` as Temporary (server, network) or Permanent (request) errors."""
    try:
        yield
    except RestException as e:
        if e.error_code in _SERVER_SIDE:
            raise TemporaryError(f"MLflow could not {action} right now: {e.message}; retry later") from e
        raise PermanentError(f"MLflow refused to {action}: {e.message}") from e
    except MlflowException as e:
        raise TemporaryError(f"cannot reach MLflow to {action}: {e.message}; check the tracking URI") from e


def find_champion(client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The version currently serving: alias ``champion``, else the newest ``Production`` version, else none."""
    try:
        registered = client.get_registered_model(model_name)
    except RestException as e:
        if e.error_code == _NOT_FOUND:
            return None
        raise
    if CHAMPION_ALIAS in registered.aliases:
        return client.get_model_version(model_name, registered.aliases[CHAMPION_ALIAS])
    versions = client.search_model_versions(f"name = '{model_name}'")
    in_stage = [v for v in versions if v.current_stage == CHAMPION_STAGE]
    return max(in_stage, key=lambda v: int(v.version), default=None)
