"""SASL and TLS settings reach kafka-python unchanged; unset ones are left to kafka-python's defaults."""

from __future__ import annotations

from kafka import KafkaConsumer

from listeners.kafka.connection import client_options
from listeners.settings import KafkaSettings


def test_sasl_and_tls_settings_pass_through() -> None:
    settings = KafkaSettings.model_validate(
        {
            "bootstrap_servers": ["broker-1:9093"],
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "ingest",
            "sasl_password": "s3cr3t",
            "ssl_cafile": "/etc/kafka/ca.pem",
        }
    )
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert (options["sasl_mechanism"], options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "ingest",
        "s3cr3t",
    )
    assert options["ssl_cafile"] == "/etc/kafka/ca.pem"
    assert "ssl_certfile" not in options
    assert set(options) <= set(KafkaConsumer.DEFAULT_CONFIG), "every option must be one kafka-python knows"


def test_plaintext_defaults_set_no_security_options() -> None:
    options = client_options(KafkaSettings())
    assert options["security_protocol"] == "PLAINTEXT"
    assert not {name for name in options if name.startswith(("sasl_", "ssl_"))}
