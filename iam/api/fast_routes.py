"""The routes served ahead of FastAPI's middleware and router (`iam.api.app.RegistryIAM`):
the token endpoints every docker pull and push, every CLI and CI login calls. Each is
declared once, in its route module (`FAST_ROUTES`): method, path, handler and the error
format it speaks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from iam.api.errors import ErrorFormat

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class FastRoute:
    method: str
    path: str
    endpoint: Endpoint
    errors: ErrorFormat  # how its domain errors are answered (`iam.api.errors`)
