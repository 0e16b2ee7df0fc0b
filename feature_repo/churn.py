"""Churn features per customer, fed by the clean parquet the Spark ETL writes.

Two views with different freshness: the contract profile changes rarely, the
engagement counters daily. ``churn_model`` is the feature service the trainer
and the model server both ask for, so training and serving read one list.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float64, Int32
from feast.value_type import ValueType

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.INT64,
    description="A subscriber of the service.",
)

customer_activity_source = FileSource(
    name="customer_activity",
    path="data/customer_activity",
    timestamp_field="event_timestamp",
    description="Daily customer snapshot, cleaned by the data-etl pipeline (partitioned by event_date).",
)

customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    ttl=timedelta(days=90),
    schema=[
        Field(name="tenure_months", dtype=Int32),
        Field(name="monthly_charges", dtype=Float64),
        Field(name="contract_months", dtype=Int32),
    ],
    source=customer_activity_source,
    online=True,
    tags={"domain": "churn"},
)

customer_engagement = FeatureView(
    name="customer_engagement",
    entities=[customer],
    ttl=timedelta(days=30),
    schema=[
        Field(name="sessions_30d", dtype=Int32),
        Field(name="avg_session_minutes", dtype=Float64),
        Field(name="days_since_last_login", dtype=Int32),
        Field(name="support_tickets_30d", dtype=Int32),
        Field(name="payment_failures_90d", dtype=Int32),
    ],
    source=customer_activity_source,
    online=True,
    tags={"domain": "churn"},
)

churn_model = FeatureService(
    name="churn_model",
    features=[customer_profile, customer_engagement],
    description="Features of the churn classifier, in training and serving.",
)
