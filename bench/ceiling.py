"""The ceiling: the smallest app on the same ASGI server that does the token path's
unavoidable work — parse HTTP Basic (or the API key form field), sign one ES256 registry
token with the same claims shape and headers (`kid`, `x5c`) — and nothing else: no
database, no policy, no middleware.

Run as `uvicorn bench.ceiling:create_app --factory`, with `BENCH_KEYS_DIR` naming a data
directory's `keys/` (the same signing key `iam serve` uses).
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from iam.tokens.signing import load_keys


def create_app() -> Starlette:
    key = load_keys(Path(os.environ["BENCH_KEYS_DIR"]))[-1]
    headers = {"kid": key.kid, "x5c": [key.x5c]}

    def sign(subject: str, access: list[dict[str, object]]) -> JSONResponse:
        now = int(time.time())
        claims = {"iss": "registry-iam", "sub": subject, "aud": "registry.local",
                  "exp": now + 300, "nbf": now, "iat": now,
                  "jti": secrets.token_urlsafe(18), "access": access}
        token = jwt.encode(claims, key.private_key, algorithm=key.alg,  # type: ignore[arg-type]
                           headers=headers)
        return JSONResponse({"token": token, "access_token": token, "expires_in": 300})

    async def token(request: Request) -> JSONResponse:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        user, _, password = base64.b64decode(value).decode().partition(":")
        if scheme.lower() != "basic" or not password:
            return JSONResponse({"errors": [{"code": "UNAUTHORIZED"}]}, status_code=401)
        scope = request.query_params.get("scope", "")
        _, name, actions = scope.split(":") if scope.count(":") == 2 else ("", "", "")
        return sign(user, [{"type": "repository", "name": name,
                            "actions": actions.split(",") if actions else []}])

    async def identity(request: Request) -> JSONResponse:
        form = parse_qs((await request.body()).decode())
        if not form.get("apikey"):
            return JSONResponse({"errorCode": "invalid_request"}, status_code=400)
        return sign("iam-ServiceId-ceiling", [])

    return Starlette(routes=[Route("/token", token),
                             Route("/identity/token", identity, methods=["POST"])])
