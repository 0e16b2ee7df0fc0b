"""The model registry the watcher polls, as a port with an MLflow adapter.

The watcher needs three reads: which models exist, where their aliases point
and which stage each version is in. The adapter pages through MLflow's search
APIs and wraps MLflow's errors, so the watcher sees ``TemporaryError`` (the
server is down: try again next interval) and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ConfigDict, TypeAdapter, ValidationError

from core.errors import TemporaryError
from core.identifiers import ModelName

_MODEL_NAME = TypeAdapter(ModelName, config=ConfigDict(regex_engine="python-re"))
PAGE_SIZE = 500


@dataclass(frozen=True)
class ModelSnapshot:
    name: str
    aliases: dict[str, str]
    """alias -> version"""
    stages: dict[str, str]
    """version -> stage (``None``, ``Staging``, ``Production``, ``Archived``)"""


class ModelRegistry(Protocol):
    def snapshot(self, models: list[str]) -> list[ModelSnapshot]:
        """The current aliases and stages of ``models`` (all registered models when empty)."""
        ...


class MlflowRegistry:
    def __init__(self, tracking_uri: str) -> None:
        from mlflow import MlflowClient

        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._uri = tracking_uri

    def snapshot(self, models: list[str]) -> list[ModelSnapshot]:
        from mlflow.exceptions import MlflowException

        try:
            names = models or [m.name for m in self._pages(self._client.search_registered_models)]
            return [self._model(name) for name in names if _allowed(name)]
        except MlflowException as e:
            raise TemporaryError(f"cannot read the MLflow registry at {self._uri}: {e.message}") from e

    def _model(self, name: str) -> ModelSnapshot:
        aliases = dict(self._client.get_registered_model(name).aliases or {})
        versions = self._pages(self._client.search_model_versions, filter_string=f"name='{name}'")
        return ModelSnapshot(
            name,
            {alias: str(version) for alias, version in aliases.items()},
            {str(v.version): str(v.current_stage or "None") for v in versions},
        )

    @staticmethod
    def _pages(search: Any, **query: Any) -> Iterator[Any]:
        token = None
        while True:
            page = search(max_results=PAGE_SIZE, page_token=token, **query)
            yield from page
            token = page.token
            if not token:
                return


def _allowed(name: str) -> bool:
    """Names outside the allow-list never become events (they could not be written to a manifest safely)."""
    try:
        _MODEL_NAME.validate_python(name)
        return True
    except ValidationError:
        return False
