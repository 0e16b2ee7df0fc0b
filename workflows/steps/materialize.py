"""Feast materialization: copy the newest clean features of the ETL's time range online.

Only the feature views fed by the dataset the ETL just wrote are materialized,
and only over the event-time window the ETL reported, so a data-arrival run
costs in proportion to the data that arrived, not to the whole history.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from core.errors import PermanentError
from core.logging import get_logger
from workflows.params import EtlParams
from workflows.steps.contract import StepRequest
from workflows.steps.datasets import etl_contract
from workflows.steps.etl import EtlOutput
from workflows.steps.feature_store import open_store

log = get_logger(__name__)


class MaterializeOutput(BaseModel):
    feature_views: list[str]
    start: datetime
    end: datetime
    online_store: str


def _where(online_store: Any) -> str:
    """The online store's file, or only its type for a networked one (whose settings may hold a password)."""
    return str(online_store.path) if online_store.type == "sqlite" else str(online_store.type)


def materialize(request: StepRequest[EtlParams]) -> MaterializeOutput:
    etl = request.upstream_output("etl", EtlOutput)
    if etl.min_event_timestamp is None or etl.max_event_timestamp is None:
        raise PermanentError("the ETL wrote no clean rows, so there is nothing to materialize; see its quarantine")
    contract, _ = etl_contract(request.params, request.runtime)
    store = open_store(request.runtime)
    views = sorted(
        view.name
        for view in store.list_feature_views()
        if getattr(view.batch_source, "path", None) == contract.offline_subdir
    )
    if not views:
        raise PermanentError(f"no feature view reads {contract.offline_subdir}; apply matching Feast definitions")
    end = etl.max_event_timestamp + timedelta(seconds=1)
    store.materialize(start_date=etl.min_event_timestamp, end_date=end, feature_views=views)
    output = MaterializeOutput(
        feature_views=views,
        start=etl.min_event_timestamp,
        end=end,
        online_store=_where(store.config.online_store),
    )
    log.info("materialize.done", **output.model_dump(mode="json"))
    return output
