"""From entity ids to predictions: feature lookup, missing-feature policy, model call.

This is the whole serving path without HTTP, so the benchmark can time it
in-process as the baseline the HTTP server is compared against, and the
policy for entities the online store does not know lives in one place: fill
configured defaults, or refuse naming the ids. Predicting on silently invented
features is never an option.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import PermanentError

from .features import EntityId, OnlineFeatures
from .metrics import ServingMetrics
from .model import PredictionValue, ServedModel
from .settings import ModelServerSettings


class UnknownEntitiesError(PermanentError):
    """The online store has no (complete) features for these entities and no defaults cover them."""

    def __init__(self, entity_key: str, entity_ids: Sequence[EntityId]) -> None:
        self.entity_key = entity_key
        self.entity_ids = tuple(entity_ids)
        super().__init__(f"no online features for {entity_key} {list(self.entity_ids)}")


@dataclass(frozen=True)
class Predictions:
    entity_ids: tuple[EntityId, ...]
    values: list[PredictionValue]
    defaulted_ids: frozenset[EntityId]


class Predictor:
    """One model version joined to one feature service."""

    def __init__(
        self,
        features: OnlineFeatures,
        model: ServedModel,
        metrics: ServingMetrics,
        default_feature_values: Mapping[str, float] | None = None,
    ) -> None:
        unknown_defaults = sorted(set(default_feature_values or {}) - set(model.feature_names))
        if unknown_defaults:
            raise PermanentError(
                f"DEFAULT_FEATURE_VALUES names {unknown_defaults}, which the model does not use "
                f"(its features: {list(model.feature_names)})"
            )
        self.features = features
        self.model = model
        self._metrics = metrics
        self._defaults = dict(default_feature_values or {})

    def predict(self, entity_ids: Sequence[EntityId]) -> Predictions:
        with self._metrics.feature_lookup_latency.time():
            looked_up = self.features.lookup(entity_ids)
        columns = {name: looked_up[name] for name in self.model.feature_names}
        incomplete = [row for row in range(len(entity_ids)) if _row_has_gap(columns, row)]
        if incomplete:
            columns = self._fill_defaults(columns)
            unknown = [entity_ids[row] for row in incomplete if _row_has_gap(columns, row)]
            if unknown:
                self._metrics.missing_entities.labels("rejected").inc(len(unknown))
                raise UnknownEntitiesError(self.features.entity_key, unknown)
            self._metrics.missing_entities.labels("defaulted").inc(len(incomplete))
        values = self.model.predict(self.model.model_input(columns))
        return Predictions(tuple(entity_ids), values, frozenset(entity_ids[row] for row in incomplete))

    def _fill_defaults(self, columns: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
        return {
            name: [self._defaults.get(name) if value is None else value for value in values]
            for name, values in columns.items()
        }


def _row_has_gap(columns: Mapping[str, list[Any]], row: int) -> bool:
    return any(values[row] is None for values in columns.values())


def open_predictor(settings: ModelServerSettings, metrics: ServingMetrics) -> Predictor:
    """Open the feature service, load the model version, and warm the lookup path up."""
    features = OnlineFeatures(settings.feast_repo_path, settings.feast_feature_service, settings.entity_key)
    model = ServedModel.load(settings.mlflow_tracking_uri, settings.model_uri, features.feature_names)
    predictor = Predictor(features, model, metrics, settings.default_feature_values)
    features.warm_up()
    return predictor
