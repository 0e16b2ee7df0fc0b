"""The model registry as the service sees it: which versions exist, and where aliases and stages point.

A promotion of a version the registry does not know must be refused before
anything is committed, and a stage or alias transition needs the version's
source, run id and training commit: an event about a stage or alias carries
none of them, so the registry is where the lineage trailers come from. The
registry watcher (``listeners.watcher``) reads where each model's aliases and
stages point, to turn moves into events. The :class:`ModelRegistry` port keeps
the service free of any one registry; :mod:`gitops.mlflow_registry` is the
adapter for MLflow's tracking server, and the only module here that imports
MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


@dataclass(frozen=True)
class ModelSnapshot:
    """Where one registered model's aliases point and which stage each of its versions is in."""

    name: str
    aliases: dict[str, str]
    """alias -> version"""
    stages: dict[str, str]
    """version -> stage (``None``, ``Staging``, ``Production``, ``Archived``)"""


class ModelRegistry(Protocol):
    """What the service reads from a model registry.

    Failures come as ``TemporaryError`` (the registry is down or overloaded: try again later) or
    ``PermanentError`` (it refused the request: retrying the same one cannot help); a model or
    version the registry does not know is no failure.
    """

    def get_version(self, name: str, version: str) -> RegisteredVersion | None:
        """The registered version, or None when the registry does not know it."""
        ...

    def snapshot(self, models: list[str]) -> list[ModelSnapshot]:
        """The aliases and stages of ``models`` (all registered models when empty); unknown models are left out."""
        ...
