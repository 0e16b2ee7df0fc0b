"""Moves one matched rule of one event one step further, and remembers where it got.

The dispatcher calls :meth:`ActionChain.advance` every time it holds the
event; everything the chain knows between calls is in the ledger, keyed by
deterministic action keys, so any replica can pick up where another stopped
and a crash at any point costs at most a repeat of an idempotent call:

* ``<rule>:<event id>`` (or ``<rule>:batch-<batch id>`` when debounced) is the
  first action; follow-ups add ``/then-<n>``; a replay adds ``~<replays>`` so a
  replayed event really runs again.
* Before the first action, the rule's gates (:mod:`triggers.gates`) may hold
  the chain: a debounce batch still gathering (its leader event is deferred,
  the others are done), a concurrency slot held by another chain, a rate
  limit. The chain records what they decide; a held chain is come back to.
* A workflow run is followed until it finishes (the event is deferred
  meanwhile); then the next ``then`` step reads its outputs.
* Each action keeps its own state (``ActionState``): its attempts, when it
  started, when it tries next, its deadline and its last error. A temporary
  failure spends one of the rule's ``retries`` and waits out a backoff (or
  the ``delay`` the error carries, from a ``Retry-After`` say); a
  status check of a running workflow that fails spends only from a budget of
  failures *in a row*, refilled by the next successful check, so blips over a
  six-hour run never add up; a run past its rule's ``timeout_seconds`` is
  cancelled. Exceeding a budget fails that action alone (:class:`Failed`), and
  it stays failed until it is replayed (under a fresh request key ``~r<n>``).

The outcomes of the event's own actions are not written one by one: they are
collected in the pass's ``writes`` (and the slots of the chains that ended, in
``released``) and the dispatcher stores them together with the event's
outcome, in one transaction. A crash before it loses both
(the lease runs out, the event is claimed again and the actions are repeated
under the same keys); it never leaves an outcome without its actions.

Each call returns :class:`Finished`, :class:`Waiting` (come back later, also
while an action backs off) or :class:`Failed`. Errors outside the actions (the
ledger, a debounce key that cannot be rendered) are raised: ``TemporaryError``
for the dispatcher to retry the event, ``PermanentError`` to fail the rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from core.clock import Clock
from core.errors import MlopsGitopsError, PermanentError, TemporaryError
from core.logging import get_logger
from triggers.actions.base import ActionKind, ActionOutcome, ActionRequest, ActionStatus
from triggers.actions.registry import ActionKinds
from triggers.backoff import backoff_delay
from triggers.event import Event
from triggers.gates import DebounceJoins, Gates, Gathering, Held, Joined
from triggers.ledger.action_log import ActionLog, ActionWrite
from triggers.ledger.coordination import Coordination, SlotRelease
from triggers.ledger.records import ActionRecord, ActionState, ClaimedEvent
from triggers.rules.engine import action_context
from triggers.rules.rule import Rule, Stage
from triggers.settings import DispatcherSettings

log = get_logger(__name__)

_MAX_KEY_LENGTH = 256
_STARTABLE = frozenset({None, ActionStatus.DEBOUNCING, ActionStatus.QUEUED, ActionStatus.RATE_LIMITED})
_CHAIN_ENDS = frozenset({ActionStatus.SKIPPED, ActionStatus.SUPERSEDED, ActionStatus.COALESCED})


@dataclass(frozen=True)
class Finished:
    summary: str


@dataclass(frozen=True)
class Waiting:
    until: datetime
    reason: str


@dataclass(frozen=True)
class Failed:
    """The rule's chain stopped at an action that failed for good (it stays so until replayed)."""

    action_key: str
    reason: str


Progress = Finished | Waiting | Failed


def action_key(rule: str, subject: str, replays: int) -> str:
    """Deterministic key of a rule's first action for one event (or batch) and replay generation."""
    key = f"{rule}:{subject}" + (f"~{replays}" if replays else "")
    if len(key) <= _MAX_KEY_LENGTH - 20:  # room for follow-up suffixes
        return key
    return f"{rule}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class _Run:
    """One pass over a rule's chain: the event the actions are recorded on and the events they act for.

    ``writes`` collects the action outcomes of the pass and ``released`` the concurrency slots of the chains that
    ended in it, for the dispatcher to store with the event's outcome.
    """

    rule: Rule
    owner: Event
    events: tuple[Event, ...]
    key: str
    now: datetime
    recorded: Mapping[str, ActionRecord]
    writes: list[ActionWrite]
    released: list[SlotRelease]

    @cached_property
    def _base_context(self) -> dict[str, Any]:
        """The events' part of every context of this pass, built once: a batch's leader acts for thousands."""
        return action_context(self.owner, self.events)

    def context(self, outputs: dict[str, Any]) -> dict[str, Any]:
        return {**self._base_context, "outputs": dict(outputs)}


class ActionChain:
    def __init__(
        self,
        actions: ActionLog,
        coordination: Coordination,
        kinds: ActionKinds,
        settings: DispatcherSettings,
        clock: Clock,
    ) -> None:
        self._kinds = kinds
        self._gates = Gates(actions, coordination, settings)
        self._settings = settings
        self._clock = clock

    def join_batches(self, pending: Sequence[tuple[Rule, ClaimedEvent]]) -> DebounceJoins:
        """Join the debounced rules of a claimed batch's events to their batches, together, before any advances."""
        now = self._clock()
        return self._gates.join_debounces(
            [(rule, claimed.event, action_context(claimed.event)) for rule, claimed in pending if rule.debounce], now
        )

    def advance(
        self,
        rule: Rule,
        claimed: ClaimedEvent,
        recorded: Mapping[str, ActionRecord],
        writes: list[ActionWrite],
        joins: DebounceJoins,
        *,
        released: list[SlotRelease],
    ) -> Progress:
        """One step further; ``recorded`` holds the event's actions as the ledger had them when it was claimed.

        A debounced rule must be in ``joins`` (see :meth:`join_batches`). The outcomes of the actions performed
        are appended to ``writes``, and the slot of a chain that ended to ``released``, not stored: the caller
        stores them with the event's own outcome (``released`` holds those of the whole claimed batch, so a chain
        may take a slot an earlier chain of the batch freed).
        """
        now = self._clock()
        event = claimed.event
        key = action_key(rule.name, event.id, claimed.replays)
        run = _Run(rule, event, (event,), key, now, recorded, writes, released)
        if rule.debounce is not None:
            debounced = self._debounce(run, claimed.replays, joins)
            if not isinstance(debounced, _Run):
                return debounced
            run = debounced
        outputs: dict[str, Any] = {}
        for index, stage in enumerate(rule.stages):
            key = run.key if index == 0 else f"{run.key}/then-{index}"
            step = self._step(run, index, stage, key, outputs)
            if isinstance(step, Waiting | Failed):
                return step
            if step.status in _CHAIN_ENDS:
                self._release(run)
                return Finished(f"{key}: {step.status} {step.message}".strip())
            outputs = step.outputs
        self._release(run)
        return Finished(f"{run.key}: {ActionStatus.SUCCEEDED}")

    # ---- debounce -------------------------------------------------------

    def _debounce(self, run: _Run, replays: int, joins: DebounceJoins) -> _Run | Progress:
        batch = self._gates.debounce(run.rule, run.owner, run.now, joins)
        if isinstance(batch, Joined):
            self._record(run, run.key, run.rule.stages[0], batch.outcome)
            return Finished(batch.summary)
        key = action_key(run.rule.name, f"batch-{batch.batch_id}", replays)
        if isinstance(batch, Gathering):
            return self._hold(run, key, run.rule.stages[0], batch.held)
        return replace(run, events=batch.events, key=key)

    # ---- one step of the chain -----------------------------------------

    def _step(
        self, run: _Run, index: int, stage: Stage, key: str, outputs: dict[str, Any]
    ) -> ActionOutcome | Waiting | Failed:
        record = run.recorded.get(key)
        status = ActionStatus(record.status) if record else None
        if record is not None and status in (ActionStatus.SUCCEEDED, *_CHAIN_ENDS):
            return _recorded_outcome(record)
        if record is not None and status == ActionStatus.FAILED:  # stays failed until that action is replayed
            return Failed(key, record.state.last_error or _recorded_outcome(record).message or "failed")
        retry_at = record.state.next_attempt_at if record is not None else None
        if status == ActionStatus.RETRYING and retry_at is not None and retry_at > run.now:
            return Waiting(retry_at, f"{key} retrying: {record.state.last_error if record else ''}")
        context = run.context(outputs)
        if index > 0 and stage.when is not None and record is None and not stage.when.evaluate(context):
            outcome = ActionOutcome(ActionStatus.SKIPPED, "", f"then[{index - 1}].when is false")
            self._record(run, key, stage, outcome, ActionState())
            return outcome
        kind = self._kinds[stage.spec.kind]
        if status == ActionStatus.RUNNING and record is not None:
            return self._follow(run, key, stage, kind, record)
        if index == 0 and status in _STARTABLE:
            held = self._gates.admit(
                run.rule, key, event=run.owner, context=run.context({}), kind=kind, now=run.now, freed=run.released
            )
            if held is not None:
                return self._hold(run, key, stage, held)
        replays = record.state.replays if record is not None else 0
        request_key = f"{key}~r{replays}" if replays else key  # a replayed action is a new one to its kind
        request = ActionRequest(run.rule.name, request_key, stage.field, run.owner, run.events, context)
        return self._perform(run, key, stage, lambda: kind.perform(stage.spec, request), record)

    def _perform(
        self, run: _Run, key: str, stage: Stage, call: Callable[[], ActionOutcome], record: ActionRecord | None
    ) -> ActionOutcome | Waiting | Failed:
        """Perform the action once more; a temporary failure spends one of the action's own tries."""
        previous = record.state if record is not None else ActionState()
        state = replace(previous, attempts=previous.attempts + 1, next_attempt_at=None, poll_failures=0)
        try:
            outcome = call()
        except PermanentError as e:
            return self._fail(run, key, stage, str(e), state=state)
        except TemporaryError as e:
            error, delay = str(e), e.delay
        except Exception as e:  # a bug in an action kind: retried like a temporary failure, within the budget
            log.exception("action_chain.action_crashed", action_key=key)
            error, delay = f"unexpected {type(e).__name__}: {e}", None
        else:
            started = replace(state, started_at=run.now, deadline_at=run.now + self._timeout(run.rule), last_error=None)
            return self._settle(run, key, stage, outcome, state=started, record=record)
        retries = self._settings.action_retries if run.rule.retries is None else run.rule.retries
        if state.attempts > retries:
            return self._fail(run, key, stage, f"gave up after {state.attempts} attempts: {error}", state=state)
        retry_at = run.now + (
            timedelta(seconds=delay) if delay is not None else backoff_delay(state.attempts, self._settings)
        )
        retrying = ActionOutcome(ActionStatus.RETRYING, "", error, detail={"error": error})
        self._record(run, key, stage, retrying, replace(state, next_attempt_at=retry_at, last_error=error))
        return Waiting(retry_at, f"{key} retrying: {error}")

    def _follow(
        self, run: _Run, key: str, stage: Stage, kind: ActionKind[Any], record: ActionRecord
    ) -> ActionOutcome | Waiting | Failed:
        """Check on a running action: past its deadline it is cancelled and fails; a failed check costs only from
        the budget of failed checks in a row, which a successful one refills."""
        state = record.state
        if state.deadline_at is None:  # recorded before actions had deadlines
            state = replace(state, deadline_at=(state.started_at or record.created_at) + self._timeout(run.rule))
        assert state.deadline_at is not None
        recorded = _recorded_outcome(record)
        if run.now >= state.deadline_at:
            try:
                cancelled = kind.cancel(record.target)
            except MlopsGitopsError as e:
                log.warning("action_chain.cancel_failed", action_key=key, target=record.target, error=str(e))
                cancelled = False
            reason = f"{record.target} still running at its deadline {state.deadline_at.isoformat()}"
            timed_out = replace(recorded, detail={**recorded.detail, "timed_out": True, "cancelled": cancelled})
            return self._fail(
                run, key, stage, reason + ("; cancelled" if cancelled else ""), state=state, outcome=timed_out
            )
        try:
            followed = kind.follow(stage.spec, record.target)
        except PermanentError as e:
            return self._fail(run, key, stage, str(e), state=state, outcome=recorded)
        except Exception as e:  # the status could not be read: the run itself may well be fine
            if not isinstance(e, TemporaryError):
                log.exception("action_chain.follow_crashed", action_key=key)
            error = str(e) if isinstance(e, TemporaryError) else f"unexpected {type(e).__name__}: {e}"
            wait = max(self._settings.run_poll_seconds, e.delay or 0) if isinstance(e, TemporaryError) else None
            failures = state.poll_failures + 1
            if failures >= self._settings.status_poll_failures:
                reason = f"status of {record.target} unreadable {failures} times in a row: {error}"
                return self._fail(run, key, stage, reason, state=state, outcome=recorded)
            self._record(run, key, stage, recorded, replace(state, poll_failures=failures, last_error=error))
            until = run.now + timedelta(seconds=wait or self._settings.run_poll_seconds)
            return Waiting(until, f"{record.target}: {error}")
        # what the submission recorded (the run's parameters, say) stays beside what the poll adds
        outcome = replace(followed, detail={**recorded.detail, **followed.detail})
        return self._settle(
            run, key, stage, outcome, state=replace(state, poll_failures=0, last_error=None), record=record
        )

    def _settle(
        self,
        run: _Run,
        key: str,
        stage: Stage,
        outcome: ActionOutcome,
        *,
        state: ActionState,
        record: ActionRecord | None,
    ) -> ActionOutcome | Waiting | Failed:
        """Record where a performed or followed action got to, and what the chain does next."""
        if outcome.status == ActionStatus.FAILED:
            reason = f"{stage.spec.kind} {outcome.target} failed: {outcome.message}".strip()
            return self._fail(run, key, stage, reason, state=state, outcome=outcome)
        if record is None or (record.status, record.target, record.state) != (outcome.status, outcome.target, state):
            self._record(run, key, stage, outcome, state)
        if outcome.status == ActionStatus.RUNNING:
            return Waiting(run.now + timedelta(seconds=self._settings.run_poll_seconds), f"{outcome.target} running")
        return outcome

    def _fail(
        self,
        run: _Run,
        key: str,
        stage: Stage,
        reason: str,
        *,
        state: ActionState,
        outcome: ActionOutcome | None = None,
    ) -> Failed:
        """The action failed for good: record why, free the rule's slot; the event's other rules go on."""
        failed = replace(outcome, status=ActionStatus.FAILED) if outcome else ActionOutcome(ActionStatus.FAILED, "")
        failed = replace(failed, message=failed.message or reason, detail={**failed.detail, "error": reason})
        self._record(run, key, stage, failed, replace(state, next_attempt_at=None, last_error=reason))
        self._release(run)
        return Failed(key, reason)

    def _timeout(self, rule: Rule) -> timedelta:
        return rule.timeout or timedelta(seconds=self._settings.action_timeout_seconds)

    def _release(self, run: _Run) -> None:
        if (released := self._gates.release(run.rule, run.key, run.context({}))) is not None:
            run.released.append(released)

    # ---- ledger ---------------------------------------------------------

    def _hold(self, run: _Run, key: str, stage: Stage, held: Held) -> Waiting:
        self._record(run, key, stage, held.outcome)
        return Waiting(held.until, held.reason)

    def _record(
        self, run: _Run, key: str, stage: Stage, outcome: ActionOutcome, state: ActionState | None = None
    ) -> None:
        """Add the action's outcome to the pass's writes; without ``state`` it keeps what the ledger had."""
        if state is None:
            previous = run.recorded.get(key)
            state = previous.state if previous is not None else ActionState()
        detail: dict[str, Any] = {**outcome.detail, "message": outcome.message}
        if outcome.outputs:
            detail["outputs"] = outcome.outputs
        if len(run.events) > 1:
            detail["events"] = [e.id for e in run.events]
        run.writes.append(
            ActionWrite(key, stage.spec.kind, run.rule.name, outcome.target, outcome.status, detail, state)
        )


def _recorded_outcome(record: ActionRecord) -> ActionOutcome:
    detail = dict(record.detail)
    return ActionOutcome(
        ActionStatus(record.status), record.target, str(detail.pop("message", "")), detail.pop("outputs", {}), detail
    )
