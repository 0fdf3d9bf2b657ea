"""ASGI middleware: body size limit and security headers, before any route runs."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
]
_DOCS_CSP = (b"content-security-policy",
             b"default-src 'self' cdn.jsdelivr.net; img-src 'self' data: fastapi.tiangolo.com;"
             b" style-src 'self' 'unsafe-inline' cdn.jsdelivr.net;"
             b" script-src 'self' 'unsafe-inline' cdn.jsdelivr.net")


_SECURITY_NAMES = {k for k, _ in SECURITY_HEADERS}


def add_security_headers(headers: list[tuple[bytes, bytes]], *, docs: bool = False) -> None:
    """Set the security headers in place: ours replace the app's, except its Cache-Control."""
    names = {h[0].lower() for h in headers}
    if not docs and not (names & _SECURITY_NAMES) - {b"cache-control"}:  # the usual case
        headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
        return
    headers[:] = [h for h in headers
                  if h[0].lower() not in _SECURITY_NAMES or h[0].lower() == b"cache-control"]
    present = {h[0].lower() for h in headers}
    for key, val in SECURITY_HEADERS:
        if docs and key == b"content-security-policy":
            key, val = _DOCS_CSP
        if key not in present:
            headers.append((key, val))


def _too_large_body(limit: int) -> bytes:
    return json.dumps({"errors": [{"code": "payload_too_large",
                                   "message": f"request body exceeds {limit} bytes"}],
                       "status_code": 413}).encode()


class BodyTooLarge(Exception):
    """The request's body is over the limit (or its Content-Length is not a number)."""


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole body, at most `limit` bytes; None when the client went away.

    Read before any route runs (bodies here are small): a chunked body over the limit gets
    its 413 at once, instead of failing inside FastAPI's body parsing.
    """
    for name, value in scope.get("headers", []):
        if name == b"content-length" and (not value.isdigit() or int(value) > limit):
            raise BodyTooLarge()
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        received += len(chunks[-1])
        if received > limit:
            raise BodyTooLarge()
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` once, then whatever the client sends next."""
    pending: bytes | None = body

    async def replay_receive() -> Message:
        nonlocal pending
        if pending is not None:
            message = {"type": "http.request", "body": pending, "more_body": False}
            pending = None
            return message
        return await receive()

    return replay_receive


async def refuse_too_large(send: Send, limit: int) -> None:
    body = _too_large_body(limit)
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


class LimitsAndHeaders:
    """Refuse bodies over `max_body` bytes with 413; add security headers to every answer."""

    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(scope, receive, self.max_body)
        except BodyTooLarge:
            await refuse_too_large(send, self.max_body)
            return
        if body is None:
            return  # the client went away
        docs = scope.get("path", "") in ("/docs", "/redoc")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                add_security_headers(headers, docs=docs)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, replay(body, receive), send_with_headers)
