"""The model registry adapter for MLflow's tracking server, and how its failures are told apart.

One classification serves every read, because the dispatcher and the watcher
act on it the same way:

* ``RESOURCE_DOES_NOT_EXIST``, and ``INVALID_PARAMETER_VALUE`` for a version
  (MLflow's answer to a version that is not a number), mean the registry does
  not know the model or version: no failure; ``get_version`` answers None and
  ``snapshot`` leaves the model out (a configured model not registered yet
  must not hide the others);
* an answer that the server failed or is overloaded (``INTERNAL_ERROR``,
  ``TEMPORARILY_UNAVAILABLE``, ``REQUEST_LIMIT_EXCEEDED``), or no answer at
  all (MLflow's client gave up after its own retries), is a
  ``TemporaryError``;
* any other refusal (``PERMISSION_DENIED``, ``UNAUTHENTICATED``, a request it
  finds invalid) is a ``PermanentError``: asking again cannot help.

MLflow takes seconds to import, so it is imported when an adapter is made.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from core.errors import PermanentError, TemporaryError
from core.identifiers import GIT_SHA_PATTERN, ModelName
from core.logging import get_logger
from gitops.registry import TRAINING_COMMIT_TAG, ModelSnapshot, RegisteredVersion

log = get_logger(__name__)

PAGE_SIZE = 500
_NOT_FOUND = frozenset({"RESOURCE_DOES_NOT_EXIST"})
_NO_SUCH_VERSION = _NOT_FOUND | {"INVALID_PARAMETER_VALUE"}
_SERVER_SIDE = frozenset({"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"})
_MODEL_NAME = TypeAdapter(ModelName, config=ConfigDict(regex_engine="python-re"))

T = TypeVar("T")


class _NotRegisteredError(Exception):
    """The registry does not know what was asked for."""


class MlflowModelRegistry:
    """Reads versions, aliases and stages from an MLflow model registry through ``MlflowClient``."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow import MlflowClient

        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._tracking_uri = tracking_uri

    def get_version(self, name: str, version: str) -> RegisteredVersion | None:
        try:
            found = self._read(
                lambda: self._client.get_model_version(name, version), f"look up {name} v{version}", _NO_SUCH_VERSION
            )
        except _NotRegisteredError:
            return None
        return RegisteredVersion(
            name=found.name,
            version=str(found.version),
            source=found.source or "",
            run_id=found.run_id or None,
            stage=found.current_stage or None,
            aliases=tuple(found.aliases or ()),
            training_commit=_training_commit(found.tags or {}, name, version),
        )

    def snapshot(self, models: list[str]) -> list[ModelSnapshot]:
        names = models or [
            m.name for m in self._read(lambda: list(self._pages(self._client.search_registered_models)), "list models")
        ]
        snapshots = []
        for name in filter(_allowed, names):
            try:
                snapshots.append(self._read(partial(self._model, name), f"read model {name}"))
            except _NotRegisteredError:
                log.info("registry.model_not_registered", model=name)
        return snapshots

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

    def _read(self, call: Callable[[], T], doing: str, absent: frozenset[str] = _NOT_FOUND) -> T:
        """``call()``, with MLflow's failures classified as the module docstring says."""
        from mlflow.exceptions import MlflowException, RestException

        try:
            return call()
        except RestException as e:
            if e.error_code in absent:
                raise _NotRegisteredError from e
            if e.error_code in _SERVER_SIDE:
                raise TemporaryError(f"MLflow at {self._tracking_uri} could not {doing}: {e.message}; retry") from e
            raise PermanentError(f"MLflow at {self._tracking_uri} refused to {doing}: {e.message}") from e
        except MlflowException as e:
            raise TemporaryError(f"cannot reach MLflow at {self._tracking_uri} to {doing}: {e.message}; retry") from e


def _allowed(name: str) -> bool:
    """Names outside the allow-list are never read: they go into a search filter and could not be written to a
    manifest safely."""
    try:
        _MODEL_NAME.validate_python(name)
        return True
    except ValidationError:
        return False


def _training_commit(tags: dict[str, str], name: str, version: str) -> str | None:
    """The version's training commit tag, when it holds a commit SHA; anything else cannot be a trailer."""
    value = tags.get(TRAINING_COMMIT_TAG)
    if value is None or re.fullmatch(GIT_SHA_PATTERN, value):
        return value
    log.warning("gitops.training_commit_tag_ignored", model=name, version=version, tag=TRAINING_COMMIT_TAG)
    return None
