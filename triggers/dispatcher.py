"""The dispatcher: claims due events from the ledger and carries their rules out.

Any number of dispatchers (threads of one service, or replicas) may share a
ledger: ``DispatchQueue.claim_due`` leases each event to exactly one of them, and
everything else they share (debounce batches, concurrency slots, rate
windows, action outcomes) lives in the ledger too. Per claimed event:

* no rule matches: the event is ``ignored`` with every rule's reason;
* every matched rule finished: ``done``, with the matched rule names;
* some rule can still move (debounce, queue, rate limit, a running workflow,
  an action backing off after a temporary failure): the event is deferred to
  the earliest time one of them should look again, without spending an
  attempt, even if another of its rules has failed;
* no rule can move and an action failed for good: ``dead_lettered``, naming
  each failed action and why. Retries, timeouts and status-check failures are
  budgets of each action (see ``triggers.action_chain``), so one rule's
  failure never abandons another rule's running workflow or its follow-ups;
* a pass that fails outside the actions (the rules crash, the ledger errs):
  retried with exponential, jittered backoff until ``max_attempts``, then
  dead-lettered.

A claimed batch costs the dispatcher two commits however many events it
holds: the claim (which reads the events' recorded actions too), and the
outcomes of all its events together with the outcomes of every action their
passes performed (``DispatchQueue.finish``); and a third when some of them
are debounced: every debounced event of the batch joins its debounce batch in
one transaction, before any rule moves (``ActionChain.join_batches``). A chain
that ended frees its concurrency slot with those outcomes too (a later chain of
the same batch may take it meanwhile). What must hold
before a chain's first action (closing a due batch, taking a concurrency slot
or a rate token) is written per chain, as it happens.

The claim cannot join the outcomes: it has to be committed before any action
has an effect, so no other dispatcher takes the event meanwhile and a crashed
dispatcher's events come back when the lease runs out (on SQLite it need not
wait for the disk, see ``LedgerDatabase.leasing``), and holding its
transaction open across an action would hold SQLite's write lock (and every
webhook waiting on it) for as long as a workflow submission or a GitOps push
takes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from core.clock import Clock
from core.errors import PermanentError, TemporaryError
from core.gc_pauses import freeze_startup_heap
from core.logging import get_logger
from triggers.action_chain import ActionChain, Failed, Finished, Progress, Waiting
from triggers.actions.base import ActionStatus
from triggers.actions.registry import ActionKinds
from triggers.backoff import backoff_delay
from triggers.gates import DebounceJoins
from triggers.ledger import Ledger, LedgerError
from triggers.ledger.action_log import ActionWrite
from triggers.ledger.coordination import Coordination, SlotRelease
from triggers.ledger.dispatch_queue import EventOutcome
from triggers.ledger.records import ClaimedEvent
from triggers.ledger.wakeup import PostgresListener
from triggers.rules.engine import Evaluation, RulesEngine
from triggers.settings import DispatcherSettings

log = get_logger(__name__)


class Dispatcher:
    def __init__(
        self,
        ledger: Ledger,
        engine: RulesEngine,
        actions: ActionKinds,
        settings: DispatcherSettings,
        clock: Clock | None = None,
    ) -> None:
        missing = {s.spec.kind for rule in engine.rules.values() for s in rule.stages} - set(actions)
        if missing:
            raise PermanentError(f"the rules use action kinds nothing here performs: {', '.join(sorted(missing))}")
        self._ledger = ledger
        self._engine = engine
        self._settings = settings
        self._clock = clock or ledger.database.clock
        self._chain = ActionChain(ledger.actions, Coordination(ledger.database), actions, settings, self._clock)
        self._next_comeback: datetime | None = None

    def run_once(self) -> int:
        """Claim one batch of due events, handle each, and store their outcomes together; return how many."""
        claimed = self._ledger.queue.claim_due(
            limit=self._settings.batch_size, lease=timedelta(seconds=self._settings.lease_seconds)
        )
        if not claimed:
            return 0
        outcomes: list[EventOutcome] = []
        released: list[SlotRelease] = []  # the slots of the chains that ended in this batch's passes
        try:
            evaluations = [(item, self._evaluate(item)) for item in claimed]
            joins = self._chain.join_batches(
                [(rule, item) for item, ev in evaluations if isinstance(ev, Evaluation) for rule in ev.matched]
            )
            for item, evaluation in evaluations:
                if isinstance(evaluation, EventOutcome):
                    outcomes.append(evaluation)
                else:
                    outcomes.append(self._handle(item, evaluation, joins, released))
        finally:  # a pass that crashed on one event still stores what it did for the others
            self._ledger.queue.finish(outcomes, released)
        self._note_comebacks(outcomes)
        return len(claimed)

    def _note_comebacks(self, outcomes: Sequence[EventOutcome]) -> None:
        """Remember the earliest time an event this dispatcher handed back (deferred or retrying) falls due."""
        times = [o.values["next_attempt_at"] for o in outcomes if "next_attempt_at" in o.values]
        if self._next_comeback is not None:
            times.append(self._next_comeback)
        self._next_comeback = min(times, default=None)

    def _idle_wait(self) -> float:
        """Seconds to sleep when a pass found nothing: until an event this dispatcher handed back falls due, or
        the poll interval, whichever comes first (a debounce batch acts when its quiet period ends, not up to a
        poll later)."""
        poll = self._settings.poll_interval_seconds
        if self._next_comeback is None:
            return poll
        left = (self._next_comeback - self._clock()).total_seconds()
        if left <= 0:  # it fell due and was claimed (here or by another replica); wait for the next
            self._next_comeback = None
            return poll
        return min(poll, left)

    def run_forever(self, stop: threading.Event) -> None:
        """Dispatch until ``stop`` is set; an unreachable ledger or a bug is logged and waited out, never fatal.

        Between passes it sleeps until an event is stored (see ``triggers.ledger.wakeup``), an event it handed
        back falls due, or at the latest ``poll_interval_seconds``. Events a failed pass had claimed come back to
        any dispatcher when their lease runs out. The heap built so far is frozen first (``core.gc_pauses``): a
        full collection walking it stopped the loop for 60 to 90 ms between an event's wake-up and its action.
        """
        freeze_startup_heap()
        wakeup = self._ledger.database.wakeup
        if self._ledger.database.is_postgres:
            listener = PostgresListener(self._ledger.database.engine, wakeup)
            threading.Thread(target=listener.run, args=(stop,), name="dispatcher-listen", daemon=True).start()
        while not stop.is_set():
            try:
                busy = self.run_once() > 0
            except (LedgerError, TemporaryError) as e:
                log.warning("dispatcher.ledger_unavailable", error=str(e))
                busy = False
            except Exception:
                log.exception("dispatcher.pass_crashed")
                busy = False
            if not busy:
                wakeup.wait(self._idle_wait())

    def _evaluate(self, claimed: ClaimedEvent) -> Evaluation | EventOutcome:
        """The rules the event matched, or its outcome when it matched none or the rules could not be evaluated."""
        event_id = claimed.event.id
        try:
            evaluation = self._engine.evaluate(claimed.event)
        except PermanentError as e:
            return self._fail(claimed, permanent=[str(e)], temporary=[])
        except Exception as e:  # a bug in a filter must not stop the dispatcher; retry, then dead-letter
            log.exception("dispatcher.rules_crashed", event_id=event_id)
            return self._fail(claimed, permanent=[], temporary=[f"rules: unexpected {type(e).__name__}: {e}"])
        if not evaluation.matched:
            reason = evaluation.ignored_reason()
            log.info("dispatcher.ignored", event_id=event_id, reason=reason)
            return EventOutcome.ignored(event_id, reason, matched_rules=[])
        return evaluation

    def _handle(
        self, claimed: ClaimedEvent, evaluation: Evaluation, joins: DebounceJoins, released: list[SlotRelease]
    ) -> EventOutcome:
        event_id = claimed.event.id
        recorded = {action.action_key: action for action in claimed.actions}
        progress: list[Progress] = []
        temporary: list[str] = []
        delays: list[float] = []
        writes: list[ActionWrite] = []
        for rule in evaluation.matched:
            try:
                progress.append(self._chain.advance(rule, claimed, recorded, writes, joins, released=released))
            except PermanentError as e:  # before any action: the rule cannot start (a debounce key, say)
                progress.append(Failed(rule.name, str(e)))
            except TemporaryError as e:
                temporary.append(f"{rule.name}: {e}")
                delays += [] if e.delay is None else [e.delay]
            except Exception as e:  # a bug around the actions must not stop the dispatcher; retry, then dead-letter
                log.exception("dispatcher.rule_crashed", event_id=event_id, rule=rule.name)
                temporary.append(f"{rule.name}: unexpected {type(e).__name__}: {e}")
        names = [rule.name for rule in evaluation.matched]
        if temporary:
            return self._fail(
                claimed,
                permanent=[],
                temporary=temporary,
                matched_rules=names,
                actions=writes,
                delay=max(delays, default=None),
            )
        waits = [p for p in progress if isinstance(p, Waiting)]
        if waits:  # some rule can still move; a failed one waits for it, recorded on its action
            until = min(w.until for w in waits)
            # A run followed for hours comes back here every poll; the status API shows what it waits for.
            log.debug(
                "dispatcher.waiting", event_id=event_id, until=until.isoformat(), reasons=[w.reason for w in waits]
            )
            return EventOutcome.deferred(claimed, until, writes)
        failed = [p for p in progress if isinstance(p, Failed)]
        if failed:
            reason = "; ".join(f"{f.action_key}: {f.reason}" for f in failed)
            log.warning("dispatcher.dead_lettered", event_id=event_id, reason=reason)
            return EventOutcome.dead(event_id, reason, names, writes)
        log.info(
            "dispatcher.done",
            event_id=event_id,
            rules=names,
            summary=[p.summary for p in progress if isinstance(p, Finished)],
        )
        return EventOutcome.done(event_id, names, writes)

    def _fail(
        self,
        claimed: ClaimedEvent,
        *,
        permanent: list[str],
        temporary: list[str],
        matched_rules: list[str] | None = None,
        actions: Sequence[ActionWrite] = (),
        delay: float | None = None,
    ) -> EventOutcome:
        """A pass that failed outside the actions: retry the event with backoff (or after the errors' ``delay``),
        or dead-letter it."""
        event_id = claimed.event.id
        reason = "; ".join(permanent + temporary)
        if permanent:
            log.warning("dispatcher.dead_lettered", event_id=event_id, reason=reason)
            return EventOutcome.dead(event_id, reason, matched_rules, _given_up(actions))
        if claimed.attempts >= self._settings.max_attempts:
            log.warning("dispatcher.dead_lettered", event_id=event_id, attempts=claimed.attempts, reason=reason)
            return EventOutcome.dead(
                event_id, f"gave up after {claimed.attempts} attempts: {reason}", matched_rules, _given_up(actions)
            )
        wait = timedelta(seconds=delay) if delay is not None else backoff_delay(claimed.attempts, self._settings)
        retry_at = self._clock() + wait
        log.info("dispatcher.retrying", event_id=event_id, attempt=claimed.attempts, at=retry_at.isoformat())
        return EventOutcome.retry(event_id, reason, retry_at, actions)


def _given_up(actions: Sequence[ActionWrite]) -> list[ActionWrite]:
    """A dead-lettered event retries nothing more, so an action it left ``retrying`` has failed."""
    return [
        replace(action, status=ActionStatus.FAILED.value, detail={**action.detail, "given_up": True})
        if action.status == ActionStatus.RETRYING
        else action
        for action in actions
    ]
