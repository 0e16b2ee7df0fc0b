"""Prometheus metrics of the ingress side, shared by the webhook app and the Kafka consumer.

Label values come from a closed set (channel, registered source name, rejection
reason, configured topic), never from request input, so a scanner probing
random paths cannot blow up the number of series.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter(
    "mlops_gitops_events_received", "Events recorded in the ledger for the first time.", ["channel", "source"]
)
REJECTED = Counter(
    "mlops_gitops_deliveries_rejected",
    "Deliveries refused (4xx or dead-lettered), by reason.",
    ["channel", "source", "reason"],
)
DUPLICATES = Counter(
    "mlops_gitops_duplicate_deliveries", "Redeliveries of events already in the ledger.", ["channel", "source"]
)
ACK_LATENCY = Histogram(
    "mlops_gitops_webhook_ack_seconds",
    "From request received to answer sent, for accepted webhooks.",
    ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CONSUMER_LAG = Gauge(
    "mlops_gitops_kafka_consumer_lag",
    "Records between the committed position and the partition's end.",
    ["topic", "partition"],
)
UNKNOWN_SOURCE = "unknown"
