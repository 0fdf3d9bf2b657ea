"""Rendering: the templates, and a refused form's errors shown beside their fields.

Every page is a Jinja2 template (`templates/`, autoescaped) extending `base.html`, answered
with the security headers and `Cache-Control: no-store` the API's middleware adds, under the
console's Content-Security-Policy (`api.middleware.CONSOLE_CSP`: no inline script).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from iam.api.errors import status_of
from iam.console.session import Visitor, note_refusal
from iam.errors import IamError, RateLimited

ENV = Environment(loader=PackageLoader("iam.console", "templates"),
                  autoescape=select_autoescape(["html"]), trim_blocks=True,
                  lstrip_blocks=True)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


def _size(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


ENV.filters["when"] = _when
ENV.filters["size"] = _size


@dataclass
class Problems:
    """Why a form was refused: the status, messages per field, and the rest."""

    status: int = 400
    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    retry_after: int | None = None  # a refusal over the failure limits (429)

    def summary(self) -> str:
        return "; ".join([*(f"{k}: {v}" for k, v in self.fields.items()), *self.general])


def problems_of(exc: Exception, fields: Iterable[str] = ()) -> Problems:
    """A refusal in the form's terms: a value the API's schema refused, or a domain error
    (beside the field it names when the form has it)."""
    known = set(fields)
    found = Problems()
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            where = str(err["loc"][0]) if err.get("loc") else ""
            message = str(err.get("msg", "invalid value"))
            if where in known:
                found.fields.setdefault(where, message)
            else:
                found.general.append(f"{where}: {message}" if where else message)
        return found
    if isinstance(exc, IamError):
        found.status = status_of(exc)
        if isinstance(exc, RateLimited):
            found.retry_after = exc.retry_after
        if exc.target in known:
            found.fields[str(exc.target)] = exc.message
        else:
            found.general.append(exc.message)
        return found
    raise exc


def refused(request: Request, exc: Exception, fields: Iterable[str] = ()) -> Problems:
    """`problems_of`, noted on the form's audit event."""
    problems = problems_of(exc, fields)
    note_refusal(request, problems.summary())
    return problems


def render(request: Request, template: str, visitor: Visitor | None, *, status: int = 200,
           problems: Problems | None = None, form: Mapping[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    page = ENV.get_template(template).render(
        request=request, visitor=visitor, path=request.url.path,
        problems=problems or Problems(status=status), form=form or {}, **context)
    headers = {}
    if problems is not None and problems.retry_after is not None:
        headers["Retry-After"] = str(problems.retry_after)
    refused = problems is not None and bool(problems.fields or problems.general)
    return HTMLResponse(page, status_code=problems.status if refused and problems else status,
                        headers=headers)


def message(request: Request, title: str, text: str, *, status: int,
            visitor: Visitor | None = None) -> HTMLResponse:
    return render(request, "message.html", visitor, status=status, title=title, text=text)


def not_available(request: Request, exc: Exception, visitor: Visitor) -> HTMLResponse:
    """The page for a thing the visitor may not read (or that is gone), noted for the audit."""
    problems = refused(request, exc)
    return message(request, "Not available", "; ".join(problems.general),
                   status=problems.status, visitor=visitor)


def see_other(url: str) -> RedirectResponse:
    """After a change: the page that shows it (so a reload does not post again)."""
    return RedirectResponse(url, status_code=303)


def note_refusal_of(request: Request, problems: Problems) -> None:
    """A refusal the console itself decided (a confirmation not typed), for the audit."""
    note_refusal(request, problems.summary())
