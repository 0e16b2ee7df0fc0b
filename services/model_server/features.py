"""Online feature lookup through one Feast feature service.

The server is generic: which entity the request's ids name and which features
the model needs come from configuration (the join key and the feature
service), never from code. Everything that can be checked once is checked when
the store is opened, so a wrong repository, feature service or key stops the
server from becoming ready instead of failing every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from feast import FeatureService, FeatureStore, ValueType
from feast.errors import FeastError

from core.errors import PermanentError, TemporaryError

EntityId = int | str

_PYTHON_TYPE_OF_KEY: dict[ValueType, type[int] | type[str]] = {
    ValueType.INT32: int,
    ValueType.INT64: int,
    ValueType.STRING: str,
}


class OnlineFeatures:
    """One opened Feast store bound to one feature service and one entity join key."""

    def __init__(self, repo_path: Path, feature_service: str, entity_key: str) -> None:
        try:
            self._store = FeatureStore(repo_path=str(repo_path))
            self._service: FeatureService = self._store.get_feature_service(feature_service)
            entities = self._store.list_entities()
        except (FeastError, OSError, ValueError) as e:
            raise PermanentError(
                f"cannot open feature service {feature_service!r} in the Feast repository {repo_path}: {e}; "
                "check FEAST_REPO_PATH and FEAST_FEATURE_SERVICE and that `feast apply` ran"
            ) from e
        self.entity_key = entity_key
        self.key_type = _key_type(entities, entity_key)
        self.feature_names: tuple[str, ...] = tuple(
            feature.name for projection in self._service.feature_view_projections for feature in projection.features
        )

    def lookup(self, entity_ids: Sequence[EntityId]) -> dict[str, list[Any]]:
        """Fetch the service's features for ``entity_ids``, column-wise; ``None`` where the store has no value."""
        try:
            response = self._store.get_online_features(
                features=self._service, entity_rows={self.entity_key: list(entity_ids)}
            )
            values = response.to_dict()
        except Exception as e:  # the online store is pluggable; its backends' errors share no base class
            raise TemporaryError(f"online feature lookup failed: {e}; check the online store is reachable") from e
        return {name: values[name] for name in self.feature_names}

    def warm_up(self) -> None:
        """Run one lookup so the first real request does not pay for lazy registry and store set-up."""
        self.lookup([self.key_type()])


def _key_type(entities: Sequence[Any], entity_key: str) -> type[int] | type[str]:
    matching = [entity for entity in entities if entity.join_key == entity_key]
    if not matching:
        known = sorted(entity.join_key for entity in entities)
        raise PermanentError(f"no Feast entity has the join key {entity_key!r} (known: {known}); check ENTITY_KEY")
    value_type = matching[0].value_type
    if value_type not in _PYTHON_TYPE_OF_KEY:
        raise PermanentError(
            f"entity join key {entity_key!r} has Feast type {value_type.name}; only int and string keys are served"
        )
    return _PYTHON_TYPE_OF_KEY[value_type]
