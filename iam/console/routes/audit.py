"""The audit trail: the API's list with its filters (times read as UTC) and paging."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from iam.api.deps import RuntimeDep
from iam.api.routes import audit as api
from iam.console import pages
from iam.console.session import VisitorDep
from iam.errors import IamError

router = APIRouter(prefix="/console/audit", include_in_schema=False)
PAGE = 50
OUTCOMES = ("", "success", "failure", "denied", "throttled")


def _moment(value: str | None, name: str, problems: pages.Problems) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        problems.fields[name] = "not a date and time (YYYY-MM-DDTHH:MM)"
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("")
def read_audit(request: Request, visitor: VisitorDep, runtime: RuntimeDep,
               since: str = "", until: str = "", subject: str = "", action: str = "",
               outcome: str = "", before_id: int | None = None) -> HTMLResponse:
    """Newest first, `PAGE` at a time; the filters are a GET form (a link keeps them)."""
    form = {"since": since, "until": until, "subject": subject, "action": action,
            "outcome": outcome}
    problems = pages.Problems()
    start, end = _moment(since, "since", problems), _moment(until, "until", problems)
    if outcome not in OUTCOMES:
        problems.fields["outcome"] = "unknown outcome"
    found = None
    if not problems.fields:
        try:
            found = api.list_audit_events(
                caller=visitor.principal, runtime=runtime, limit=PAGE, since=start,
                until=end, subject=subject[:80] or None, action=action[:128] or None,
                outcome=outcome or None,
                before_id=before_id if before_id and 0 < before_id < 2**31 else None)
        except IamError as exc:
            problems = pages.problems_of(exc)
    else:
        problems.status = 400
    next_url = ""
    if found is not None and found.next_before_id is not None:
        next_url = "/console/audit?" + urlencode(
            {**{k: v for k, v in form.items() if v}, "before_id": found.next_before_id})
    return pages.render(request, "audit.html", visitor, found=found, form=form,
                        problems=problems, outcomes=OUTCOMES, next_url=next_url)
