"""Data notices from Kafka topics into the ledger, at least once and without duplicates."""
