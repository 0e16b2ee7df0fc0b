"""kafka-python client options from the settings, SASL and TLS passed through unchanged."""

from __future__ import annotations

from typing import Any

from listeners.settings import KafkaSettings


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Options every client (consumer, DLQ producer) shares; unset security options are left out."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
        "sasl_mechanism": settings.sasl_mechanism,
        "sasl_plain_username": settings.sasl_username,
        "sasl_plain_password": settings.sasl_password.get_secret_value() if settings.sasl_password else None,
        "ssl_cafile": settings.ssl_cafile,
        "ssl_certfile": settings.ssl_certfile,
        "ssl_keyfile": settings.ssl_keyfile,
    }
    return {name: value for name, value in options.items() if value is not None}
