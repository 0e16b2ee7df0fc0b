"""Contracts of the datasets the ETL accepts: columns, types, keys and null rules.

The ETL enforces a contract rather than inferring a schema, so a malformed
partition cannot silently change column types downstream. The same contract
tells the Feast definitions where the clean data lands and which column is the
label, so it is written down once, here, without importing Spark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.errors import PermanentError

ColumnType = Literal["long", "int", "double", "timestamp"]


@dataclass(frozen=True)
class Column:
    """One typed column. ``fill`` replaces a null; a required column without it sends the row to quarantine."""

    name: str
    type: ColumnType
    required: bool = False
    fill: float | int | None = None
    min_value: float | None = None
    allowed: tuple[int, ...] | None = None


@dataclass(frozen=True)
class DatasetContract:
    key: str
    columns: tuple[Column, ...]
    entity_column: str
    timestamp_column: str
    label_column: str
    partition_column: str
    offline_subdir: str

    @property
    def feature_columns(self) -> tuple[str, ...]:
        not_features = {self.entity_column, self.timestamp_column, self.label_column}
        return tuple(c.name for c in self.columns if c.name not in not_features)


CUSTOMER_ACTIVITY = DatasetContract(
    key="churn/customer_activity",
    columns=(
        Column("customer_id", "long", required=True, min_value=1),
        Column("event_timestamp", "timestamp", required=True),
        Column("tenure_months", "int", required=True, min_value=0),
        Column("monthly_charges", "double", required=True, min_value=0.0),
        Column("contract_months", "int", fill=1, allowed=(1, 12, 24)),
        Column("sessions_30d", "int", fill=0, min_value=0),
        Column("avg_session_minutes", "double", fill=0.0, min_value=0.0),
        Column("days_since_last_login", "int", fill=30, min_value=0),
        Column("support_tickets_30d", "int", fill=0, min_value=0),
        Column("payment_failures_90d", "int", fill=0, min_value=0),
        Column("churned", "int", required=True, allowed=(0, 1)),
    ),
    entity_column="customer_id",
    timestamp_column="event_timestamp",
    label_column="churned",
    partition_column="event_date",
    offline_subdir="data/customer_activity",
)

DATASETS: dict[str, DatasetContract] = {CUSTOMER_ACTIVITY.key: CUSTOMER_ACTIVITY}


def contract_for(dataset: str) -> DatasetContract:
    try:
        return DATASETS[dataset]
    except KeyError as e:
        raise PermanentError(f"unknown dataset {dataset!r}; known datasets: {', '.join(sorted(DATASETS))}") from e
