"""Webhook sources refuse to start without secrets.

An open webhook endpoint that nothing can sign for either refuses every
delivery, so the sender's events are lost one 401 at a time, or, with
``insecure_dev``, accepts anyone's. Neither should be found out in
production, so the service checks before its port opens and names, per
source, the setting to fix. ``insecure_dev`` (``serve --insecure-dev``) lets a
laptop run unsigned; the webhook app then warns loudly at start-up.
"""

from __future__ import annotations

from core.errors import PermanentError
from listeners.settings import ListenerSettings


class WebhookSecretsMissingError(PermanentError):
    """Open webhook sources lack secrets; the message has one line per source, naming the setting."""


def check_webhook_secrets(settings: ListenerSettings) -> None:
    """Raise :class:`WebhookSecretsMissingError` unless every open source has a secret or ``insecure_dev`` is on."""
    webhooks = settings.webhooks
    unsigned = webhooks.unsigned(webhooks.open_sources())
    if not unsigned or settings.insecure_dev:
        return
    lines = [
        f"  listeners.webhooks.{name}.secrets: set a secret for the open source {name!r}, "
        "or leave it out of listeners.webhooks.sources"
        for name in unsigned
    ]
    raise WebhookSecretsMissingError(
        "webhook sources refuse to start without secrets (on a laptop only, --insecure-dev accepts unsigned "
        "deliveries):\n" + "\n".join(lines)
    )
