"""The one path from a raw delivery to ledger rows, shared by the webhook app and the Kafka consumer.

``admit`` authenticates and parses (pure, no I/O); ``record`` writes the
events, settling MLflow alias events against the alias table first. Splitting
the two lets the Kafka consumer admit a whole poll's records and then write
them in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from core.logging import get_logger
from listeners import metrics
from listeners.model_positions import any_need_settling, positions_batch
from listeners.rejections import DeliveryError, TooLargeError, UnauthorizedError
from listeners.settings import ListenerSettings
from listeners.sources import SOURCES, Delivery, Headers, Ignored, ParseResult, Source, get_source
from listeners.sources.keyring import INSECURE, Credential, Keyring
from listeners.sources.payload import rejection
from triggers.event import Event, PushData
from triggers.ledger import Ledger, RecordResult

log = get_logger(__name__)


class Intake:
    def __init__(self, settings: ListenerSettings, ledger: Ledger, *, channel: str) -> None:
        self.ledger = ledger
        self.channel = channel
        self._insecure_dev = settings.insecure_dev
        self._max_events = settings.max_events_per_delivery
        self._clone_urls: Mapping[str, str] = {host: url for host, url in settings.webhooks.clone_urls.items()}
        self._keyrings: Mapping[str, Keyring] = {
            name: Keyring.from_settings(
                settings.webhooks.secrets_for(name), tolerance_seconds=settings.webhooks.timestamp_tolerance_seconds
            )
            for name in SOURCES
        }

    def admit(self, delivery: Delivery, *, trusted_transport: bool = False) -> ParseResult:
        """Authenticate (unless the transport already did) and parse; a refusal raises a ``DeliveryError``."""
        source = get_source(delivery.source)
        credential = INSECURE if trusted_transport else self._verify(source, delivery.headers, delivery.body)
        result = self._parse(source, delivery)
        if isinstance(result, Ignored):
            return result
        if len(result) > self._max_events:
            raise TooLargeError(
                f"the delivery holds {len(result)} events (records); at most {self._max_events} per delivery "
                "(listeners.max_events_per_delivery)"
            )
        self._check_scope(source, credential, result)
        return [self._with_configured_clone_url(event) for event in result]

    def check_headers(self, source: Source, headers: Headers) -> None:
        """Refuse (401) what ``verify`` refuses without the body: no secret, a missing or malformed signature."""
        if self._unsigned_allowed(source):
            return
        source.check_headers(headers)

    def refused(self, source: str, error: DeliveryError) -> None:
        """Count and log a refusal; the detail names headers and fields, never their secret values."""
        label = source if source in SOURCES else metrics.UNKNOWN_SOURCE
        metrics.REJECTED.labels(self.channel, label, error.reason).inc()
        log.warning("delivery refused", channel=self.channel, source=label, reason=error.reason, detail=error.detail)

    def record(self, source: str, events: Sequence[Event]) -> list[RecordResult]:
        """Write ``events`` (admitted from ``source``) in one transaction; the answer says which were redeliveries."""
        return self.record_groups([(source, events)])[0]

    def record_groups(self, groups: Sequence[tuple[str, Sequence[Event]]]) -> list[list[RecordResult]]:
        """Write several deliveries' events in one transaction; one result list per group, in order."""
        events = [event for _, group in groups for event in group]
        if any_need_settling(events):
            with positions_batch(self.ledger) as batch:
                results = self.ledger.events.record_many([batch.settle(e) for e in events])
        else:
            results = self.ledger.events.record_many(events)
        answers, offset = [], 0
        for source, group in groups:
            answer = results[offset : offset + len(group)]
            offset += len(group)
            duplicates = sum(result.duplicate for result in answer)
            metrics.DUPLICATES.labels(self.channel, source).inc(duplicates)
            metrics.RECEIVED.labels(self.channel, source).inc(len(answer) - duplicates)
            answers.append(answer)
        return answers

    def _verify(self, source: Source, headers: Headers, body: bytes) -> Credential:
        if self._unsigned_allowed(source):
            return INSECURE
        return source.verify(headers, body, self._keyrings[source.name])

    def _unsigned_allowed(self, source: Source) -> bool:
        """Whether ``source`` takes unsigned deliveries (no secret, ``insecure_dev``); 401 if it has no secret."""
        if not self._keyrings[source.name].empty:
            return False
        if self._insecure_dev:
            return True
        raise UnauthorizedError(f"source {source.name!r} has no secret configured, so it accepts nothing")

    @staticmethod
    def _parse(source: Source, delivery: Delivery) -> ParseResult:
        try:
            return source.parse(delivery)
        except ValidationError as e:  # an Event field out of bounds, e.g. an over-long subject
            raise rejection(e) from e

    def _with_configured_clone_url(self, event: Event) -> Event:
        """A push's clone URL comes from ``webhooks.clone_urls``, never from the payload (which anyone signing
        for the source could point at another repository)."""
        if not isinstance(event.data, PushData):
            return event
        template = self._clone_urls.get(event.data.host)
        clone_url = template.format(repo=event.data.repo) if template else ""
        return event.model_copy(update={"data": event.data.model_copy(update={"clone_url": clone_url})})

    def _check_scope(self, source: Source, credential: Credential, events: Sequence[Event]) -> None:
        keyring = self._keyrings[source.name]
        for event in events:
            scope = source.scope(event)
            if not keyring.admits(credential, scope):
                raise UnauthorizedError(f"the signing secret is not valid for repository {scope!r}")
