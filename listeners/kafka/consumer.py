"""The Kafka consumer: one group, manual commits only after the ledger write.

Each poll's records are admitted through the same ``data`` source as HTTP
notices, written with one ``record_many`` transaction (poison records with one
``dead_letter_many``, and to the DLQ topic when one is configured), and only
then are their offsets committed. A crash anywhere before the commit replays
the batch, and the ledger's idempotency keys make the replay a no-op: at least
once delivery, exactly once in the ledger. Offsets that are written but not
yet committed are also committed when partitions are revoked, so a rebalance
replays as little as possible.

Writing is pipelined: while one batch is being written on the writer thread,
the consumer thread fetches and admits the next. The database does its work
(and its fsync) without holding the GIL, so on two cores the two overlap.
At most one batch is in flight, and a batch's offsets count as written only
once its transaction has committed; if it fails, the consumer seeks back to
its first records and drops the batch admitted meanwhile, which then comes
again after it, once the pause the error asked for (``TemporaryError.delay``:
an unreachable ledger says when to come back) has passed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from core.errors import TemporaryError
from core.gc_pauses import freeze_startup_heap
from core.logging import get_logger
from listeners import metrics
from listeners.intake import Intake
from listeners.kafka.connection import client_options
from listeners.kafka.records import DATA_SOURCE, PollOutcome, delivery_of
from listeners.rejections import DeliveryError
from listeners.settings import KafkaSettings
from listeners.sources import Ignored
from triggers.ledger import LedgerError

log = get_logger(__name__)
LEDGER_RETRY_SECONDS = 2.0
"""How long to wait before reading a batch again after a failed ledger write that did not say how long."""


class _CommitOnRevoke(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Commits what is written before partitions move, and notes the ones assigned.

    kafka-python calls these on its IO thread while the poll loop waits inside
    ``poll``. A blocking client call there (a synchronous commit) is refused,
    so the commit is started and awaited, and the IO thread goes on
    heartbeating meanwhile. Lost partitions (the group evicted this member)
    come here too; their commit fails, and their next owner reads those
    records again, which the ledger deduplicates.
    """

    def __init__(self, on_revoked: Callable[[], Any | None], on_assigned: Callable[[set[Any]], None]) -> None:
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: set[Any]) -> None:
        commit = self._on_revoked()
        if commit is not None:
            with suppress(KafkaError):  # a failed commit is logged by its callback
                await commit

    async def on_partitions_assigned(self, assigned: set[Any]) -> None:
        self._on_assigned(assigned)


@dataclass(frozen=True)
class _Batch:
    """One poll's records: where they start (to seek back to) and the offsets to commit once written."""

    first: dict[Any, int]
    next: dict[Any, int]

    @classmethod
    def of(cls, records: Mapping[Any, Sequence[Any]]) -> _Batch:
        return cls(
            first={tp: batch[0].offset for tp, batch in records.items()},
            next={tp: batch[-1].offset + 1 for tp, batch in records.items()},
        )


@dataclass(frozen=True)
class _FailedWrite:
    """A batch whose ledger write failed, and how long to wait before reading it again (the error's own delay)."""

    batch: _Batch
    retry_after: float


@dataclass(frozen=True)
class _InFlight:
    batch: _Batch
    write: Future[None]


class IngestConsumer:
    def __init__(self, settings: KafkaSettings, intake: Intake) -> None:
        self._settings = settings
        self._intake = intake
        self._consumer: KafkaConsumer | None = None
        self._dlq: KafkaProducer | None = None
        self._in_flight: _InFlight | None = None
        self._written: dict[Any, OffsetAndMetadata] = {}
        self._assignment: set[Any] = set()

    def assigned(self) -> bool:
        """Readiness: the group has given this consumer at least one partition."""
        return bool(self._assignment)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; closes the client on the way out.

        Each run has its own writer thread, so a run that crashed (a broker
        that went away, say) can simply be started again by its supervisor.
        """
        consumer = self._connect()
        freeze_startup_heap()
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-ledger-writer")
        try:
            while not stop.is_set():
                records = consumer.poll(
                    timeout_ms=self._settings.poll_timeout_ms, max_records=self._settings.max_poll_records
                )
                outcome = self._admit_all(records) if records else None
                failed = self._settle()
                if failed is not None:
                    self._rewind(consumer, failed, _Batch.of(records) if records else None)
                    stop.wait(failed.retry_after)
                    continue
                if outcome is not None:
                    self._in_flight = _InFlight(_Batch.of(records), writer.submit(self._write, outcome))
                self._start_commit()
                self._report_lag(consumer)
        finally:
            self._settle()
            self._commit_and_wait()
            writer.shutdown(wait=True)
            consumer.close(autocommit=False)
            if self._dlq is not None:
                self._dlq.close()
            self._assignment = set()

    def _connect(self) -> KafkaConsumer:
        options = client_options(self._settings)
        try:
            consumer = KafkaConsumer(
                group_id=self._settings.group_id,
                enable_auto_commit=False,
                auto_offset_reset=self._settings.auto_offset_reset,
                max_poll_records=self._settings.max_poll_records,
                **options,
            )
            consumer.subscribe(self._settings.topics, listener=_CommitOnRevoke(self._on_revoked, self._assigned))
            if self._settings.dlq_topic:
                self._dlq = KafkaProducer(acks="all", **options)
        except KafkaError as e:
            raise TemporaryError(
                f"cannot reach Kafka at {self._settings.bootstrap_servers}: {e}; check "
                "listeners.kafka.bootstrap_servers and the security settings"
            ) from e
        self._consumer = consumer
        return consumer

    def _on_revoked(self) -> Any | None:
        """Before giving partitions up: finish the write in flight (one transaction at most) and start the commit.

        A write that fails here leaves its offsets uncommitted, so the partition's next owner reads it again.
        """
        self._settle()
        return self._start_commit()

    def _assigned(self, partitions: set[Any]) -> None:
        self._assignment = set(partitions)
        log.info("kafka partitions assigned", partitions=sorted(f"{p.topic}:{p.partition}" for p in partitions))

    def _admit_all(self, records: Mapping[Any, Sequence[Any]]) -> PollOutcome:
        outcome = PollOutcome()
        for batch in records.values():
            for record in batch:
                self._admit(record, outcome)
        return outcome

    def _write(self, outcome: PollOutcome) -> None:
        """On the writer thread: the batch's events and dead letters, then the DLQ copies."""
        self._intake.record(DATA_SOURCE, outcome.events)
        self._intake.ledger.events.dead_letter_many(outcome.dead_letters)
        self._send_to_dlq(outcome.dead_letters)

    def _settle(self) -> _FailedWrite | None:
        """Wait for the batch in flight, whose offsets become committable once written; the batch if it failed."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return None
        try:
            in_flight.write.result()
        except (LedgerError, TemporaryError) as e:
            delay = e.delay if isinstance(e, TemporaryError) and e.delay is not None else LEDGER_RETRY_SECONDS
            log.error("ledger write failed; the batch will be read again", error_type=type(e).__name__, after_s=delay)
            return _FailedWrite(in_flight.batch, delay)
        self._written.update({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in in_flight.batch.next.items()})
        return None

    def _rewind(self, consumer: KafkaConsumer, failed: _FailedWrite, admitted: _Batch | None) -> None:
        """Seek back to the failed batch, and the one admitted behind it, so both come again after the pause."""
        start = {**(admitted.first if admitted else {}), **failed.batch.first}
        for partition, offset in start.items():
            if partition in consumer.assignment():
                consumer.seek(partition, offset)

    def _admit(self, record: Any, outcome: PollOutcome) -> None:
        try:
            result = self._intake.admit(delivery_of(record), trusted_transport=True)
        except DeliveryError as e:
            self._intake.refused(DATA_SOURCE, e)
            outcome.dead(record, f"{e.reason}: {e.detail}")
            return
        if not isinstance(result, Ignored):
            outcome.events.extend(result)

    def _send_to_dlq(self, dead_letters: Sequence[dict[str, Any]]) -> None:
        if self._dlq is None or not dead_letters:
            return
        for dead in dead_letters:
            headers = [("dlq-reason", dead["reason"].encode()), ("dlq-origin", dead["origin_key"].encode())]
            self._dlq.send(self._settings.dlq_topic, value=dead["payload"], headers=headers)
        self._dlq.flush()

    def _owned_written(self) -> dict[Any, OffsetAndMetadata]:
        """Take the written offsets still to commit, of the partitions this member still owns."""
        if not self._written or self._consumer is None:
            return {}
        written, self._written = self._written, {}
        return {tp: offset for tp, offset in written.items() if tp in self._consumer.assignment()}

    def _start_commit(self) -> Any | None:
        """Commit the offsets of written batches without waiting; the broker's answer, to await, or None.

        In the poll loop nothing waits for it: a commit that fails only means a
        few records are read again (and deduplicated), and the next one covers them.
        """
        owned = self._owned_written()
        if not owned or self._consumer is None:
            return None
        return self._consumer.commit_async(offsets=owned, callback=_log_failed_commit)

    def _commit_and_wait(self) -> None:
        """On the way out: commit and wait, so the partitions' next owner starts where this member stopped."""
        owned = self._owned_written()
        if not owned or self._consumer is None:
            return
        try:
            self._consumer.commit(offsets=owned)
        except KafkaError as e:
            _log_failed_commit(owned, e)

    def _report_lag(self, consumer: KafkaConsumer) -> None:
        for partition in self._assignment:
            end = consumer.highwater(partition)
            if end is None:
                continue
            lag = max(end - consumer.position(partition), 0)
            metrics.CONSUMER_LAG.labels(partition.topic, str(partition.partition)).set(lag)


def _log_failed_commit(_offsets: Mapping[Any, OffsetAndMetadata], answer: object) -> None:
    if isinstance(answer, Exception):
        log.warning("offset commit failed; those records will be read again and deduplicated", error=str(answer))
