"""``mlops-gitops events``: read the ledger from the command line."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlops_gitops.api.events import DeadLetterView
from mlops_gitops.cli.options import ConfigOption
from mlops_gitops.settings import load_settings
from triggers.ledger import EventRecord, EventState, Ledger
from triggers.ledger.migrate import check_schema
from triggers.ledger.records import ActionRecord

app = typer.Typer(help="List, inspect and replay recorded events.", no_args_is_help=True)


def _ledger(config: Any, *, writes: bool = False) -> Ledger:
    """Open the ledger without migrating it: the service owns the schema, this command may be another release."""
    settings = load_settings(config)
    ledger = Ledger.open(settings.ledger.url, migrate=False, sqlite_synchronous=settings.ledger.sqlite_synchronous)
    warning = check_schema(ledger.reads.schema_revision(), writes=writes)
    if warning:
        typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW)
    return ledger


def record_as_dict(record: EventRecord) -> dict[str, Any]:
    return {
        "event": record.event.model_dump(mode="json"),
        "state": str(record.state),
        "attempts": record.attempts,
        "duplicates": record.duplicates,
        "last_error": record.last_error,
        "matched_rules": record.matched_rules,
        "received_at": record.received_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "actions": [
            {
                "action_key": a.action_key,
                "kind": a.kind,
                "rule": a.rule,
                "target": a.target,
                "status": a.status,
                "detail": a.detail,
                "attempts": a.state.attempts,
                "poll_failures": a.state.poll_failures,
                "replays": a.state.replays,
                "started_at": _iso(a.state.started_at),
                "next_attempt_at": _iso(a.state.next_attempt_at),
                "deadline_at": _iso(a.state.deadline_at),
                "last_error": a.state.last_error,
                "updated_at": a.updated_at.isoformat(),
            }
            for a in record.actions
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _action_line(action: ActionRecord) -> str:
    line = f"{action.kind}:{action.target or action.action_key} ({action.status})"
    return f"{line}: {action.state.last_error}" if action.status == "failed" and action.state.last_error else line


@app.command("list")
def list_events(
    config: ConfigOption = None,
    state: Annotated[list[EventState] | None, typer.Option("--state", "-s", help="Only events in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document instead of a table.")] = False,
) -> None:
    """List recorded events, newest first."""
    records = _ledger(config).reads.list_events(states=[str(s) for s in state or []], limit=limit)
    if as_json:
        typer.echo(json.dumps([record_as_dict(r) for r in records], indent=2))
        return
    table = Table("received", "id", "type", "subject", "state", "actions")
    for r in records:
        actions = ", ".join(_action_line(a) for a in r.actions)
        table.add_row(
            r.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.event.id,
            str(r.event.type),
            r.event.subject,
            str(r.state),
            actions,
        )
    Console().print(table)


@app.command("show")
def show(event_id: Annotated[str, typer.Argument(help="Event id.")], config: ConfigOption = None) -> None:
    """Show one event: its envelope, state, matched rules and actions, as JSON."""
    record = _ledger(config).reads.get(event_id)
    if record is None:
        typer.echo(f"no event with id {event_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(record_as_dict(record), indent=2))


@app.command("replay")
def replay(
    event_id: Annotated[str, typer.Argument(help="Event id.")],
    config: ConfigOption = None,
    action: Annotated[
        str | None,
        typer.Option(help="Key of one failed action to run again alone; the event's other actions keep their result."),
    ] = None,
) -> None:
    """Queue an event again (for example after fixing the cause of a dead letter)."""
    _ledger(config, writes=True).queue.replay(event_id, action_key=action)
    typer.echo(f"queued {event_id} for dispatch" + (f" to run {action} again" if action else ""))


@app.command("dead-letters")
def dead_letters(
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    offset: Annotated[int, typer.Option(min=0, help="How many of the newest to skip.")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List input that could not become an event (poison Kafka records): the reason and the payload's size."""
    rows = _ledger(config).reads.dead_letter_summaries(limit=limit, offset=offset)
    if as_json:
        typer.echo(json.dumps([{**asdict(d), "created_at": d.created_at.isoformat()} for d in rows], indent=2))
        return
    table = Table("when", "origin", "key", "payload bytes", "reason")
    for d in rows:
        table.add_row(
            d.created_at.strftime("%Y-%m-%d %H:%M:%S"), d.origin, d.origin_key, str(d.payload_bytes), d.reason
        )
    Console().print(table)


@app.command("dead-letter")
def dead_letter(
    dead_letter_id: Annotated[int, typer.Argument(help="Dead letter id.")], config: ConfigOption = None
) -> None:
    """Show one dead letter with its payload (decoded as UTF-8) and headers, as JSON, secrets masked."""
    letter = _ledger(config).reads.get_dead_letter(dead_letter_id)
    if letter is None:
        typer.echo(f"no dead letter with id {dead_letter_id}", err=True)
        raise typer.Exit(1)
    typer.echo(DeadLetterView.of(letter).model_dump_json(indent=2))
