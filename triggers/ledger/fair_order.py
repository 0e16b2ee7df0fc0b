"""The order in which due events are claimed: round-robin over lanes, so one flooded lane cannot hold up the rest.

A lane is an event's source and subject: one git repository, one dataset of
data notices, one registered model. Dispatching in arrival order let one
delivery of 50,000 data notices for one dataset keep every later event waiting
until all of them were done. Instead, each new event is given a *round*
(start-time fair queueing):

* the dispatch queue remembers the highest round it has claimed, the round
  being served (``dispatch_progress``);
* each lane remembers the round after its latest event (``dispatch_lanes``);
* a new event takes its lane's next round, or the round being served if that
  is later (a lane that was idle starts at the front, never behind work that
  arrived before it became busy again), and the events of one batch that share
  a lane take consecutive rounds.

The queue claims due events by round, then by when they fell due. So a lane
with 50,000 waiting events holds rounds far ahead, and an event of another
lane, given the round being served, is claimed in the next batch; two busy
lanes alternate. An event deferred or retried keeps its round, so once due it
comes before newer work, as it did in arrival order.

Both writes are idempotent, so an ingest or a claim run again after a lost
commit acknowledgement changes nothing more: a lane's next round and the round
being served only ever rise to a value computed from stored rows (``CASE WHEN
new > old``), and an ingest run again inserts nothing, so it moves no lane.
Two ingests racing on one lane may give two events the same round; they are
then claimed by when they fell due.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, case, select, update

from triggers.event import Event
from triggers.ledger.database import LedgerDatabase
from triggers.ledger.schema import DispatchLaneRow, DispatchProgressRow

_PROGRESS_ID = 1
"""The one row of ``dispatch_progress``."""


def lane_of(event: Event) -> str:
    """The event's lane: a fixed-size digest of its source and subject (both may be long)."""
    return hashlib.sha256(f"{event.source}\x1f{event.subject}".encode()).hexdigest()[:32]


class FairOrder:
    """Gives new events their rounds at ingest, and moves the round being served at claim."""

    def __init__(self, database: LedgerDatabase) -> None:
        upsert_lane = database.insert()(DispatchLaneRow)
        self._advance_lanes = upsert_lane.on_conflict_do_update(
            index_elements=["lane"],
            set_={"next_round": _raised(DispatchLaneRow.next_round, upsert_lane.excluded.next_round)},
        )
        self._create_progress = (
            database.insert()(DispatchProgressRow)
            .values(id=_PROGRESS_ID, served_round=0)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        self._raise_served = (
            update(DispatchProgressRow)
            .where(DispatchProgressRow.id == _PROGRESS_ID, DispatchProgressRow.served_round < bindparam("claimed"))
            .values(served_round=bindparam("claimed"))
        )

    def rounds_for(self, conn: Connection, events: Sequence[Event]) -> list[int]:
        """The round of each of ``events`` (in order), if they are stored in this transaction."""
        served = conn.execute(
            select(DispatchProgressRow.served_round).where(DispatchProgressRow.id == _PROGRESS_ID)
        ).scalar_one_or_none()
        lanes = [lane_of(e) for e in events]
        next_round: dict[str, int] = dict(
            conn.execute(
                select(DispatchLaneRow.lane, DispatchLaneRow.next_round).where(DispatchLaneRow.lane.in_(set(lanes)))
            )
            .tuples()
            .all()
        )
        rounds = []
        for lane in lanes:
            placed = max(next_round.get(lane, 0), served or 0)
            rounds.append(placed)
            next_round[lane] = placed + 1
        return rounds

    def stored(self, conn: Connection, placed: Iterable[tuple[Event, int]]) -> None:
        """Move the lanes of the events this transaction stored past their rounds."""
        after: dict[str, int] = {}
        for event, placed_round in placed:
            lane = lane_of(event)
            after[lane] = max(after.get(lane, 0), placed_round + 1)
        if after:
            conn.execute(self._advance_lanes, [{"lane": lane, "next_round": n} for lane, n in after.items()])

    def served(self, conn: Connection, highest_claimed: int) -> None:
        """Raise the round being served to ``highest_claimed`` (a claim's highest round) unless it is there."""
        conn.execute(self._create_progress)
        conn.execute(self._raise_served, {"claimed": highest_claimed})


def _raised(current: Any, proposed: Any) -> Any:
    """``proposed`` if it is higher than ``current``, else ``current``: the same on SQLite and PostgreSQL."""
    return case((proposed > current, proposed), else_=current)
