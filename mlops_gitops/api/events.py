"""Status API: what happened to each event, and the admin replay.

Answers "did my push start a run, which one, and what came of it?" without
shell access to the ledger. Responses pass through the log redactor, so a
secret that slipped into an event or an error message is masked here too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, SecretStr

from core.errors import PermanentError
from core.logging import redactor
from mlops_gitops.api.auth import require_admin
from triggers.ledger import EventRecord, EventState, Ledger
from triggers.ledger.store import ActionRecord, ActionState


class EventView(BaseModel):
    event: dict[str, Any]
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
    def of(cls, record: EventRecord) -> EventView:
        return cls(
            event=redactor.scrub(record.event.model_dump(mode="json")),
            state=record.state,
            attempts=record.attempts,
            duplicates=record.duplicates,
            last_error=redactor.scrub(record.last_error),
            matched_rules=redactor.scrub(record.matched_rules),
            received_at=record.received_at,
            updated_at=record.updated_at,
            next_attempt_at=record.next_attempt_at,
            actions=[
                ActionRecord(**redactor.scrub(vars(a)) | {"state": ActionState(**redactor.scrub(vars(a.state)))})
                for a in record.actions
            ],
        )


class DeadLetterView(BaseModel):
    id: int
    origin: str
    origin_key: str
    reason: str
    payload: str
    created_at: datetime


class Queued(BaseModel):
    id: str
    state: EventState


def events_router(ledger: Ledger, admin_token: SecretStr | None) -> APIRouter:
    router = APIRouter(tags=["events"])
    admin = [Depends(require_admin(admin_token))]

    @router.get("/events", response_model=list[EventView], summary="List events, newest first")
    def list_events(
        status_filter: Annotated[list[EventState] | None, Query(alias="status")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> list[EventView]:
        records = ledger.list_events(states=[str(s) for s in status_filter or []], limit=limit, offset=offset)
        return [EventView.of(r) for r in records]

    @router.get(
        "/events/{event_id}",
        response_model=EventView,
        summary="One event with its matched rules and actions",
        responses={404: {"description": "No such event"}},
    )
    def get_event(event_id: str) -> EventView:
        record = ledger.get(event_id)
        if record is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no event with id {event_id!r}")
        return EventView.of(record)

    @router.post(
        "/events/{event_id}/replay",
        response_model=Queued,
        status_code=status.HTTP_202_ACCEPTED,
        dependencies=admin,
        summary="Queue an event for dispatch again (admin token)",
        responses={401: {"description": "Bad token"}, 403: {"description": "Admin disabled"}, 404: {}},
    )
    def replay(event_id: str) -> Queued:
        try:
            ledger.replay(event_id)
        except PermanentError as e:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from e
        return Queued(id=event_id, state=EventState.RECEIVED)

    @router.get(
        "/dead-letters",
        response_model=list[DeadLetterView],
        dependencies=admin,
        summary="Input that could not become an event, with the reason (admin token)",
        responses={401: {"description": "Bad token"}, 403: {"description": "Admin disabled"}},
    )
    def dead_letters(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[DeadLetterView]:
        return [
            DeadLetterView(
                id=d.id,
                origin=d.origin,
                origin_key=d.origin_key,
                reason=redactor.scrub(d.reason),
                payload=redactor.scrub(d.payload.decode("utf-8", "replace")),
                created_at=d.created_at,
            )
            for d in ledger.dead_letters(limit=limit)
        ]

    return router
