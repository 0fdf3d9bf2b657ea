"""The routes served ahead of FastAPI's middleware and router (`iam.api.app.RegistryIAM`):
the token endpoints every docker pull and push, every CLI and CI login calls.

Each is declared once, in its route module (`FAST_ROUTES`): method, path, handler, the error
format it speaks, and what its OpenAPI entry says (`iam.api.openapi` writes the entry from
this declaration; the handler reads its parameter bounds from it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iam.api.errors import ErrorFormat

Endpoint = Callable[[Request], Awaitable[Response]]

#: What every fast route may answer besides its own: the body limit is checked before it
#: runs, and any of them may need the database.
COMMON_RESPONSES = {413: "body too large", 503: "database down; retry shortly"}


@dataclass(frozen=True)
class Param:
    """A query parameter or form field; `repeated` ones may come several times."""

    name: str
    max_length: int | None = None
    description: str = ""
    repeated: bool = False


@dataclass(frozen=True)
class FastRoute:
    method: str
    path: str
    endpoint: Endpoint
    errors: ErrorFormat  # how its domain errors are answered (`iam.api.errors`)
    tag: str
    summary: str
    description: str
    ok: Any  # the 200 body: a pydantic model or a TypedDict, or a union of them
    responses: Mapping[int, str]  # status -> what it means (200 included)
    query: tuple[Param, ...] = ()
    form: tuple[Param, ...] = ()  # an `application/x-www-form-urlencoded` body


def limits(params: tuple[Param, ...]) -> dict[str, int]:
    """Each bounded parameter's longest value."""
    return {p.name: p.max_length for p in params if p.max_length is not None}
