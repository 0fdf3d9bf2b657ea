"""`iam audit`: read the account's audit trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from iam.cli.app import app
from iam.cli.client import Api, Format, OutputOpt, emit, fail

COLUMNS = ["ts", "actor", "action", "outcome", "reason", "target", "client_ip"]


def _with_reason(event: dict[str, Any]) -> dict[str, Any]:
    """The table shows why an authentication failed (`detail.reason`) in its own column."""
    try:
        detail = json.loads(event.get("detail") or "{}")
    except ValueError:
        detail = {}
    reason = detail.get("reason", "") if isinstance(detail, dict) else ""
    return {**event, "reason": reason}


def _since(value: str | None) -> str | None:
    """`1h`, `30m`, `7d`, or an ISO 8601 time."""
    if not value:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[-1] in units and value[:-1].isdigit():
        moment = datetime.now(UTC) - timedelta(seconds=int(value[:-1]) * units[value[-1]])
        return moment.isoformat()
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        fail(f"--since takes 30m, 1h, 7d or an ISO 8601 time, not {value!r}")


@app.command("audit")
def audit(
    since: Annotated[str | None, typer.Option(help="30m, 1h, 7d or an ISO 8601 time")] = None,
    subject: Annotated[str | None, typer.Option(help="Only events of this iam_id")] = None,
    action: Annotated[str | None, typer.Option(help="Only actions starting with this")] = None,
    outcome: Annotated[str | None, typer.Option(
        help="success, failure (failed authentications too), throttled, denied...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    output: OutputOpt = Format.table,
) -> None:
    """Show the newest audit events of your account."""
    page = Api().get("/v1/audit-events", since=_since(since), subject=subject, action=action,
                     outcome=outcome, limit=limit)
    if output == Format.json:
        emit(page["data"], output)
        return
    emit([_with_reason(e) for e in page["data"]], output, COLUMNS)
