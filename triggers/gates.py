"""The gates a rule's chain passes before it starts: debounce, concurrency and rate limit.

Each gate answers one question about a rule and one event, from what the
ledger's coordination tables say, and changes nothing else there:

* Debounce: the first event of a batch leads it and waits until the batch
  falls due (``quiet`` after the last notice, at most ``max_wait`` after the
  first); later events join it and are done. Once due, the leader closes the
  batch and the chain acts once for all of its events. The debounced events of
  a claimed batch join their batches together, before any chain moves, in one
  transaction (a burst of notices would otherwise pay a commit each).
* Concurrency (``queue``/``replace``) holds a slot per rule and key for the
  whole chain; ``replace`` takes the slot from the older chain, cancelling its
  running action where its kind can. The slot is taken before the chain's
  first action, and freed with the outcome of the event whose pass ended the
  chain, in the claimed batch's one transaction of outcomes.
* Rate limit: chain starts per window; a start over the limit waits for the
  window to reopen.

What a gate decides comes back as a value (:class:`Held`, :class:`Joined`,
:class:`Gathering`, :class:`Due`); the action chain records it under its own
action keys, so the key scheme and the outcome writes stay in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.errors import PermanentError
from triggers.actions.base import ActionKind, ActionOutcome, ActionStatus
from triggers.event import Event
from triggers.ledger.action_log import ActionLog, ActionWrite
from triggers.ledger.coordination import BatchJoin, BatchMembership, Coordination, SlotHolder, SlotRelease
from triggers.rules.rule import Rule
from triggers.settings import DispatcherSettings


@dataclass(frozen=True)
class Held:
    """The gate holds the chain back: record ``outcome`` and come back at ``until``."""

    outcome: ActionOutcome
    until: datetime
    reason: str


@dataclass(frozen=True)
class Joined:
    """The event joined a batch another event leads: record ``outcome``; the rule is done for this event."""

    outcome: ActionOutcome
    summary: str


@dataclass(frozen=True)
class Gathering:
    """The event leads batch ``batch_id``, which is not due yet: record ``held.outcome`` on the batch's key."""

    batch_id: str
    held: Held


@dataclass(frozen=True)
class Due:
    """The event leads batch ``batch_id``, now closed: the chain acts once for ``events``."""

    batch_id: str
    events: tuple[Event, ...]


@dataclass(frozen=True)
class DebounceJoins:
    """Where the debounced events of one claimed batch landed, joined in one transaction (see ``join_debounces``).

    A ``(rule, event id)`` whose key could not be rendered, or whose join failed, holds its error instead.
    """

    keys: Mapping[tuple[str, str], str]
    landed: Mapping[tuple[str, str], BatchMembership]
    errors: Mapping[tuple[str, str], Exception]

    def of(self, rule: str, event_id: str) -> tuple[str, BatchMembership]:
        """The batch key and membership of ``event_id`` under ``rule``; raises the error its join met."""
        error = self.errors.get((rule, event_id))
        if error is not None:
            raise error
        return self.keys[(rule, event_id)], self.landed[(rule, event_id)]


class Gates:
    def __init__(self, actions: ActionLog, coordination: Coordination, settings: DispatcherSettings) -> None:
        self._actions = actions
        self._coordination = coordination
        self._settings = settings

    def join_debounces(self, pending: Sequence[tuple[Rule, Event, Mapping[str, Any]]], now: datetime) -> DebounceJoins:
        """Join each debounced ``(rule, event, context)`` of a claimed batch to its batch, in one transaction.

        Each rule must have a ``debounce`` block. A key that cannot be rendered fails that pair alone; if the
        database refuses the joint transaction, each batch is joined on its own, so only the events of the batch
        it refused carry the error.
        """
        joins: list[BatchJoin] = []
        keys: dict[tuple[str, str], str] = {}
        errors: dict[tuple[str, str], Exception] = {}
        for rule, event, context in pending:
            debounce = rule.debounce
            assert debounce is not None
            try:
                keys[(rule.name, event.id)] = key = debounce.key.render(context)
            except Exception as e:  # the chain raises it for this rule of this event alone
                errors[(rule.name, event.id)] = e
                continue
            joins.append(BatchJoin(rule.name, key, event.id, debounce.quiet, debounce.max_wait))
        landed, failed = self._joined(joins, now)
        return DebounceJoins(keys, landed, {**errors, **failed})

    def _joined(
        self, joins: list[BatchJoin], now: datetime
    ) -> tuple[dict[tuple[str, str], BatchMembership], dict[tuple[str, str], Exception]]:
        try:
            return self._coordination.join_batches(joins, now), {}
        except PermanentError as e:
            groups: dict[tuple[str, str], list[BatchJoin]] = {}
            for join in joins:
                groups.setdefault((join.rule, join.key), []).append(join)
            if len(groups) == 1:
                return {}, {(join.rule, join.event_id): e for join in joins}
            landed: dict[tuple[str, str], BatchMembership] = {}
            errors: dict[tuple[str, str], Exception] = {}
            for group in groups.values():
                group_landed, group_errors = self._joined(group, now)
                landed.update(group_landed)
                errors.update(group_errors)
            return landed, errors
        except Exception as e:  # the ledger erred: each event's rule meets the error, as if it had joined alone
            return {}, {(join.rule, join.event_id): e for join in joins}

    def debounce(self, rule: Rule, event: Event, now: datetime, joins: DebounceJoins) -> Joined | Gathering | Due:
        """Where ``event`` stands in its debounce batch, as ``joins`` (from :meth:`join_debounces`) found it."""
        batch_key, membership = joins.of(rule.name, event.id)
        if membership.leader_event_id != event.id:
            coalesced = ActionOutcome(
                ActionStatus.COALESCED,
                membership.batch_id,
                detail={"leader_event": membership.leader_event_id, "key": batch_key},
            )
            summary = f"coalesced into batch {membership.batch_id} led by event {membership.leader_event_id}"
            return Joined(coalesced, summary)
        if not membership.closed and membership.due_at > now:
            debouncing = ActionOutcome(
                ActionStatus.DEBOUNCING,
                membership.batch_id,
                detail={"key": batch_key, "size": membership.size, "due_at": membership.due_at.isoformat()},
            )
            return Gathering(membership.batch_id, Held(debouncing, membership.due_at, f"debouncing {batch_key!r}"))
        return Due(membership.batch_id, tuple(self._coordination.close_batch(membership.batch_id, now)))

    def admit(
        self,
        rule: Rule,
        key: str,
        *,
        event: Event,
        context: Mapping[str, Any],
        kind: ActionKind[Any],
        now: datetime,
        freed: Sequence[SlotRelease] = (),
    ) -> Held | None:
        """Let the chain of action ``key`` start (None), or hold it: queued behind a slot's holder, or rate limited.

        Under policy ``replace`` the older holder of the slot is superseded, and cancelled through ``kind``. A slot
        in ``freed`` (its chain ended in this claimed batch; the outcomes free it) is free to take.
        """
        slot = self._slot(rule, context)
        concurrency = rule.concurrency
        if slot is not None and concurrency is not None:
            claim = self._coordination.acquire_slot(
                slot=slot,
                holder_key=key,
                event_id=event.id,
                replace=concurrency.policy == "replace",
                now=now,
                ended={f.holder_key for f in freed if f.slot == slot},
            )
            if not claim.acquired:
                queued = ActionOutcome(ActionStatus.QUEUED, "", detail={"slot": slot, "behind": claim.holder_key})
                until = now + timedelta(seconds=self._settings.queue_poll_seconds)
                return Held(queued, until, f"queued behind {claim.holder_key}")
            if claim.displaced is not None:
                self._supersede(claim.displaced, key, kind)
        limit = rule.rate_limit
        if limit is not None:
            reopens = self._coordination.take_rate_token(
                name=rule.name, holder_key=key, limit=limit.max_runs, per=limit.per, now=now
            )
            if reopens is not None:
                if slot is not None:
                    self._coordination.release_slot(slot=slot, holder_key=key)
                limited = ActionOutcome(
                    ActionStatus.RATE_LIMITED,
                    "",
                    detail={"max_runs": limit.max_runs, "per_seconds": limit.per.total_seconds()},
                )
                return Held(limited, reopens, "rate limited")
        return None

    def release(self, rule: Rule, key: str, context: Mapping[str, Any]) -> SlotRelease | None:
        """The chain of action ``key`` ended (finished or failed): the concurrency slot it frees, if it holds one.

        The slot is freed with the event's outcome, in the transaction of the claimed batch's outcomes.
        """
        slot = self._slot(rule, context)
        return None if slot is None else SlotRelease(slot, key)

    @staticmethod
    def _slot(rule: Rule, context: Mapping[str, Any]) -> str | None:
        concurrency = rule.concurrency
        if concurrency is None or concurrency.policy == "allow":
            return None
        return f"{rule.name}:{concurrency.key.render(context)}"

    def _supersede(self, displaced: SlotHolder, key: str, kind: ActionKind[Any]) -> None:
        """Policy ``replace``: cancel the older running action if its kind can, and mark it superseded."""
        older = self._actions.get(displaced.holder_key)
        if older is None or older.status in (ActionStatus.SUCCEEDED, ActionStatus.FAILED):
            return
        cancelled = older.status == ActionStatus.RUNNING and kind.cancel(older.target)
        superseded = {**older.detail, "superseded_by": key, "cancelled": cancelled}
        self._actions.record(
            displaced.event_id,
            ActionWrite(
                older.action_key, older.kind, older.rule, older.target, ActionStatus.SUPERSEDED, superseded, older.state
            ),
        )
