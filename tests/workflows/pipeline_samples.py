"""One realistic, valid parameter set per pipeline, shared by the rendering and submission tests."""

from __future__ import annotations

from pydantic import BaseModel

from workflows.backend import EVENT_ID_LABEL, TRACE_ID_LABEL
from workflows.params import EtlParams, FeatureApplyParams, RetrainParams

SAMPLE_LABELS = {
    EVENT_ID_LABEL: "3f2b9c1e-5d4a-4e8b-9f00-1c2d3e4f5a6b",
    TRACE_ID_LABEL: "4bf92f3577b34da6a3ce929d0e0e4736",
}

_ETL = EtlParams(
    dataset="churn/customer_activity",
    source_uri="s3://raw-data/churn/customer_activity",
    partitions=("date=2026-11-25", "date=2026-11-26"),
    trigger_event_id="3f2b9c1e-5d4a-4e8b-9f00-1c2d3e4f5a6b",
)

SAMPLE_PARAMS: dict[str, BaseModel] = {
    "data-etl": _ETL,
    "retrain": RetrainParams(
        model_name="churn-xgb",
        repo_url="https://git.example.com/acme/churn-model.git",
        commit="9fceb02d0ae598e95dc970b74767f19372d61af8",
        etl=_ETL,
        num_workers=3,
        hyperparameters={"max_depth": 6, "eta": 0.1},
        trigger_event_id="3f2b9c1e-5d4a-4e8b-9f00-1c2d3e4f5a6b",
    ),
    "feature-apply": FeatureApplyParams(
        repo_url="https://git.example.com/acme/churn-model.git", commit="9fceb02d0ae598e95dc970b74767f19372d61af8"
    ),
}

# The image an ML repository's CI built at the sample retrain's commit (``dependencies.image`` in its mlops.yaml).
SAMPLE_REPOSITORY_IMAGE = "registry.example.com/ml/churn-model:9fceb02d0ae598e95dc970b74767f19372d61af8"
