"""Status API: what happened to each event, and the admin replay.

Answers "did my push start a run, which one, and what came of it?" without
shell access to the ledger. Every endpoint needs a bearer token
(:mod:`mlops_gitops.api.auth`). The list and the one-event view are
summaries: the event's envelope fields, state, matched rules and actions,
never its payload, which the ledger does not even read for them. The payload
(a push's commits, author e-mails, clone URL) is fetched one event at a time.
Dead letters are listed the same way: origin, reason and the payload's size,
which the database measures without handing the payload over; one dead
letter's payload is fetched on its own.
No answer exceeds ``max_response_bytes``: a list stops before it would and
says where to go on (``next_offset``); a single answer over it is a 413, and
a payload's size is asked of the database before the payload is loaded.
Responses pass through the log redactor, so a secret that slipped into an
event or an error message is masked here too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import BaseModel
from pydantic_core import to_json

from core.errors import PermanentError
from core.logging import redactor
from mlops_gitops.api.auth import BearerTokens
from triggers.ledger import EventState, EventSummary, Ledger
from triggers.ledger.records import ActionRecord, DeadLetter, DeadLetterSummary

_AUTH_ANSWERS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong bearer token"},
    403: {"description": "No token of this role is configured"},
}
_TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"description": "The answer would exceed server.max_response_bytes"}
}
_JSON = "application/json"
_MAX_ROW_ID = 2**63 - 1
"""Row ids are 64-bit signed integers in both databases: a larger id is no id, refused with 422."""


class EventSummaryView(BaseModel):
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    state: EventState
    attempts: int
    duplicates: int
    last_error: str | None
    matched_rules: list[Any]
    received_at: datetime
    updated_at: datetime
    next_attempt_at: datetime
    actions: list[ActionRecord]

    @classmethod
    def of(cls, summary: EventSummary) -> EventSummaryView:
        return cls.model_validate(redactor.scrub(asdict(summary)))


class EventPage(BaseModel):
    events: list[EventSummaryView]
    next_offset: int | None
    """Where the next page starts, or ``None`` when this page holds the last event."""


class DeadLetterSummaryView(BaseModel):
    id: int
    origin: str
    origin_key: str
    reason: str
    payload_bytes: int
    event_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, summary: DeadLetterSummary) -> DeadLetterSummaryView:
        return cls.model_validate(redactor.scrub(asdict(summary)))


class DeadLetterView(BaseModel):
    id: int
    origin: str
    origin_key: str
    reason: str
    payload: str
    """The payload as received, decoded as UTF-8 (undecodable bytes replaced)."""
    headers: dict[str, Any]
    event_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterView:
        fields = asdict(letter) | {"payload": letter.payload.decode("utf-8", "replace")}
        return cls.model_validate(redactor.scrub(fields))


class DeadLetterPage(BaseModel):
    dead_letters: list[DeadLetterSummaryView]
    next_offset: int | None
    """Where the next page starts, or ``None`` when this page holds the last dead letter."""


class Queued(BaseModel):
    id: str
    state: EventState


_Loaded = TypeVar("_Loaded")


class _Budget:
    """Serialises answers and refuses (413) or cuts (lists) whatever would exceed ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def load_within(self, size: int | None, load: Callable[[], _Loaded | None], *, what: str, missing: str) -> _Loaded:
        """``load()`` once the database's ``size`` of it fits (413 otherwise); 404 when it is gone, before or after."""
        if size is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
        self.check(size, what)
        loaded = load()
        if loaded is None:  # pruned between the two reads
            raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
        return loaded

    def one(self, value: BaseModel | dict[str, Any]) -> Response:
        body = value.model_dump_json().encode() if isinstance(value, BaseModel) else to_json(value)
        self.check(len(body), "this answer")
        return Response(body, media_type=_JSON)

    def check(self, size: int, what: str) -> None:
        if size > self.max_bytes:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"{what} is {size} bytes, over server.max_response_bytes ({self.max_bytes}); "
                "read it from the ledger with 'mlops-gitops events show' or 'events dead-letter'",
            )

    def items(self, views: Sequence[BaseModel]) -> list[bytes]:
        """The leading ``views`` whose JSON fits, with room for the envelope of the answer."""
        room, kept = self.max_bytes - 64, []
        for view in views:
            item = view.model_dump_json().encode()
            room -= len(item) + 1
            if room < 0:
                break
            kept.append(item)
        if views and not kept:
            self.check(len(views[0].model_dump_json()), "the first item")
        return kept

    def page(self, name: str, views: Sequence[BaseModel], *, limit: int, offset: int) -> Response:
        """``{name: [...], "next_offset": ...}`` of the leading ``views`` that fit, out of a page of ``limit``."""
        kept = self.items(views)
        more = len(kept) < len(views) or len(views) == limit
        next_offset = str(offset + len(kept)) if more else "null"
        body = b'{"' + name.encode() + b'":[' + b",".join(kept) + b'],"next_offset":' + next_offset.encode() + b"}"
        return Response(body, media_type=_JSON)


def events_router(ledger: Ledger, tokens: BearerTokens, *, max_response_bytes: int) -> APIRouter:
    router = APIRouter(tags=["events"], dependencies=[Depends(tokens.reader())], responses=_AUTH_ANSWERS)
    admin = [Depends(tokens.admin())]
    budget = _Budget(max_response_bytes)

    @router.get(
        "/events",
        response_model=EventPage,
        summary="List events newest first, as summaries without payloads",
        responses=_TOO_LARGE,
    )
    def list_events(
        status_filter: Annotated[list[EventState] | None, Query(alias="status")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Response:
        summaries = ledger.reads.summaries(states=[str(s) for s in status_filter or []], limit=limit, offset=offset)
        return budget.page("events", [EventSummaryView.of(s) for s in summaries], limit=limit, offset=offset)

    @router.get(
        "/events/{event_id}",
        response_model=EventSummaryView,
        summary="One event's state, matched rules and actions (without its payload)",
        responses={404: {"description": "No such event"}, **_TOO_LARGE},
    )
    def get_event(event_id: str) -> Response:
        summary = ledger.reads.summary(event_id)
        if summary is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no event with id {event_id!r}")
        return budget.one(EventSummaryView.of(summary))

    @router.get(
        "/events/{event_id}/payload",
        response_model=dict[str, Any],
        summary="One event's full envelope, payload included",
        responses={404: {"description": "No such event"}, **_TOO_LARGE},
    )
    def get_payload(event_id: str) -> Response:
        record = budget.load_within(
            ledger.reads.envelope_size(event_id),
            lambda: ledger.reads.get(event_id),
            what="this event's payload",
            missing=f"no event with id {event_id!r}",
        )
        envelope = redactor.scrub(record.event.model_dump(mode="json"))
        return budget.one(envelope)

    @router.post(
        "/events/{event_id}/replay",
        response_model=Queued,
        status_code=status.HTTP_202_ACCEPTED,
        dependencies=admin,
        summary="Queue an event for dispatch again (admin token)",
        responses={404: {"description": "No such event"}},
    )
    def replay(event_id: str) -> Queued:
        try:
            ledger.queue.replay(event_id)
        except PermanentError as e:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from e
        return Queued(id=event_id, state=EventState.RECEIVED)

    @router.get(
        "/dead-letters",
        response_model=DeadLetterPage,
        dependencies=admin,
        summary="Input that could not become an event, newest first, with the reason and the payload's size "
        "(admin token)",
        responses=_TOO_LARGE,
    )
    def dead_letters(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> Response:
        summaries = ledger.reads.dead_letter_summaries(limit=limit, offset=offset)
        return budget.page("dead_letters", [DeadLetterSummaryView.of(d) for d in summaries], limit=limit, offset=offset)

    @router.get(
        "/dead-letters/{dead_letter_id}",
        response_model=DeadLetterView,
        dependencies=admin,
        summary="One dead letter with its payload and headers (admin token)",
        responses={404: {"description": "No such dead letter"}, **_TOO_LARGE},
    )
    def get_dead_letter(dead_letter_id: Annotated[int, Path(ge=1, le=_MAX_ROW_ID)]) -> Response:
        letter = budget.load_within(
            ledger.reads.dead_letter_size(dead_letter_id),
            lambda: ledger.reads.get_dead_letter(dead_letter_id),
            what="this dead letter's payload",
            missing=f"no dead letter with id {dead_letter_id}",
        )
        return budget.one(DeadLetterView.of(letter))

    return router
