"""The closing table of the demo: each event, what it started, and where to find the result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table


def _result(action: dict[str, Any]) -> str:
    detail = action.get("detail", {})
    register = detail.get("outputs", {}).get("register", {})
    if register:
        return f"MLflow run {str(register.get('run_id', ''))[:12]}, version {register.get('model_version')}"
    if detail.get("sha"):
        return f"commit {str(detail['sha'])[:12]}"
    return str(detail.get("phase", ""))


def print_timeline(events: list[dict[str, Any]], say: Callable[[str], None]) -> None:
    table = Table("received", "event", "subject", "state", "action", "run / commit", "status", "result")
    for record in sorted(events, key=lambda r: r["received_at"]):
        actions = record["actions"] or [None]
        for index, action in enumerate(actions):
            head = (
                (record["received_at"][11:19], record["type"], record["subject"][:40], record["state"])
                if index == 0
                else ("", "", "", "")
            )
            if action is None:
                reason = (record["last_error"] or "")[:60]
                table.add_row(*head, "-", "-", "-", reason)
            else:
                table.add_row(*head, action["rule"], action["target"], action["status"], _result(action))
    Console(width=200).print(table)
    say(f"{len(events)} events")
