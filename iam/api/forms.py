"""Form bodies for the token endpoints served ahead of FastAPI (no FastAPI `Form()` there)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

URLENCODED = "application/x-www-form-urlencoded"


async def form_pairs(request: Request, *, max_fields: int = 64) -> list[tuple[str, str]]:
    """The (name, value) pairs of a url-encoded or multipart form, in order; any other body
    is no form at all (the endpoint then answers that a field is missing)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == URLENCODED:
        body = (await request.body()).decode("utf-8", errors="replace")
        return parse_qsl(body, keep_blank_values=True)  # the body is capped at 64 KiB
    if content_type == "multipart/form-data":
        async with request.form(max_files=0, max_fields=max_fields) as form:
            return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return []
