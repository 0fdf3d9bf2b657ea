"""Form bodies for the token endpoints served ahead of FastAPI (no FastAPI `Form()` there)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from iam.errors import InvalidInput

URLENCODED = "application/x-www-form-urlencoded"


async def form_pairs(request: Request, *, max_fields: int = 64) -> list[tuple[str, str]]:
    """The (name, value) pairs of a url-encoded or multipart form, in order; any other body
    is no form at all (the endpoint then answers that a field is missing).

    At most `max_fields` fields (InvalidInput beyond): the body is capped at 64 KiB, but
    unbounded, a body of `&&&...` would still be split into 32,768 pairs before any check.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == URLENCODED:
        body = (await request.body()).decode("utf-8", errors="replace")
        try:
            return parse_qsl(body, keep_blank_values=True, max_num_fields=max_fields)
        except ValueError:
            raise InvalidInput(f"more than {max_fields} form fields", target="body") from None
    if content_type == "multipart/form-data":
        async with request.form(max_files=0, max_fields=max_fields) as form:
            return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return []
