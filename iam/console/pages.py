"""Rendering: the templates, and a refused form's errors shown beside their fields.

Every page is a Jinja2 template (`templates/`, autoescaped) extending `base.html`, answered
with the security headers and `Cache-Control: no-store` the API's middleware adds, under the
console's Content-Security-Policy (`api.middleware.CONSOLE_CSP`: no inline script).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
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


#: The pages before this one that a list's links remember (their cursors), for Previous.
MAX_TRAIL = 100
#: The `before` query parameters of a paged list: the cursors of the pages before it.
Before = Annotated[list[str] | None, Query(max_length=MAX_TRAIL + 1)]


@dataclass(frozen=True)
class Pager:
    """The links of a list read a page at a time by cursor (the API's `pagestart`): this
    page, the next and the previous one. There is no cursor backwards, so the links carry
    the cursors of the pages before (`before`, the first page's empty) to step back."""

    here: str
    next: str = ""
    previous: str = ""

    @classmethod
    def of(cls, path: str, *, pagestart: str | None, before: Sequence[str] | None,
           next_start: str | None, **params: str) -> Pager:
        trail = [b[:128] for b in before or ()][-MAX_TRAIL:]

        def url(start: str, pages_before: Sequence[str]) -> str:
            query = [*params.items(), ("pagestart", start),
                     *(("before", b) for b in pages_before)]
            return f"{path}?{urlencode(query)}"

        return cls(here=url(pagestart or "", trail),
                   next=url(next_start, [*trail, pagestart or ""]) if next_start else "",
                   previous=url(trail[-1], trail[:-1]) if trail else "")
