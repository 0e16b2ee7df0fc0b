"""Ingress: everything that turns an outside signal into an ``Event``.

One module per source, each with ``verify(headers, body)`` and ``parse(...)``;
the webhook app and the Kafka consumer both go through one registry of
sources, and the MLflow registry watcher reconciles what webhooks missed.
"""
