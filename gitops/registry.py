"""The model registry as the write-back sees it: does this version exist, and where is it.

A promotion of a version the registry does not know must be refused before
anything is committed, and a stage or alias transition needs the version's
source, run id and training commit: an event about a stage or alias carries
none of them, so the registry is where the lineage trailers come from. The
:class:`ModelRegistry` port keeps ``gitops`` free of any one registry;
:class:`MlflowModelRegistry` is the adapter for MLflow's tracking server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from core.errors import TemporaryError
from core.identifiers import GIT_SHA_PATTERN
from core.logging import get_logger

log = get_logger(__name__)

# The model version tag the retrain pipeline's registration step sets to the commit it trained from.
TRAINING_COMMIT_TAG = "mlops.git_sha"


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    source: str
    run_id: str | None
    stage: str | None
    aliases: tuple[str, ...]
    training_commit: str | None = None

    @property
    def registry_uri(self) -> str:
        """The URI that names exactly this registered version, for the model server to load."""
        return registry_uri(self.name, self.version)


def registry_uri(name: str, version: str) -> str:
    """``models:/<name>/<version>``: what the model server loads through the registry."""
    return f"models:/{name}/{version}"


class ModelRegistry(Protocol):
    def get_version(self, name: str, version: str) -> RegisteredVersion | None:
        """The registered version, or None when the registry does not know it."""
        ...


class MlflowModelRegistry:
    """Looks versions up in an MLflow model registry through ``MlflowClient``."""

    _ABSENT = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})

    def __init__(self, tracking_uri: str) -> None:
        # Imported here: mlflow takes seconds to import and only this adapter needs it.
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._tracking_uri = tracking_uri

    def get_version(self, name: str, version: str) -> RegisteredVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            found = self._client.get_model_version(name, version)
        except MlflowException as e:
            if e.error_code in self._ABSENT:
                return None
            raise TemporaryError(f"MLflow at {self._tracking_uri} failed to look up {name} v{version}; retry") from e
        return RegisteredVersion(
            name=found.name,
            version=str(found.version),
            source=found.source or "",
            run_id=found.run_id or None,
            stage=found.current_stage or None,
            aliases=tuple(found.aliases or ()),
            training_commit=_training_commit(found.tags or {}, name, version),
        )


def _training_commit(tags: dict[str, str], name: str, version: str) -> str | None:
    """The version's training commit tag, when it holds a commit SHA; anything else cannot be a trailer."""
    value = tags.get(TRAINING_COMMIT_TAG)
    if value is None or re.fullmatch(GIT_SHA_PATTERN, value):
        return value
    log.warning("gitops.training_commit_tag_ignored", model=name, version=version, tag=TRAINING_COMMIT_TAG)
    return None
