"""The webhook app: ``POST /webhooks/{source}`` plus the operations endpoints."""
