from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float64, Int32
from feast.value_type import ValueType

card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.INT64)

card_transactions = FileSource(name="card_transactions", path="data/card_transactions", timestamp_field="tx_time")

card_activity = FeatureView(
    name="card_activity",
    entities=[card],
    ttl=timedelta(days=7),
    schema=[
        Field(name="amount", dtype=Float64),
        Field(name="merchant_risk", dtype=Float64),
        Field(name="hour_of_day", dtype=Int32),
        Field(name="foreign", dtype=Int32),
        Field(name="tx_count_24h", dtype=Int32),
    ],
    source=card_transactions,
    online=True,
)

fraud_model = FeatureService(name="fraud_model", features=[card_activity])
