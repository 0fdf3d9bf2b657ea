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
#: The web console (`iam.console`): scripts, styles and images from this origin only (no
#: inline script, no third-party origin), forms posting only here, never framed.
CONSOLE_CSP = (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
               b" form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
#: The interactive API docs (`iam.api.docs`), served from local assets: no inline script
#: and no third-party origin; inline styles, which Swagger UI and ReDoc set from script,
#: and ReDoc's search worker (a blob: URL) are allowed.
DOCS_CSP = (b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline';"
            b" img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src blob:;"
            b" base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def csp_for(path: str) -> bytes | None:
    """The page policy of a path that serves HTML (None: the API's default)."""
    if path == "/console" or path.startswith("/console/"):
        return CONSOLE_CSP
    if path in ("/docs", "/redoc") or path.startswith("/docs/"):
        return DOCS_CSP
    return None


_SECURITY_NAMES = {k for k, _ in SECURITY_HEADERS}


def add_security_headers(headers: list[tuple[bytes, bytes]], *,
                         csp: bytes | None = None) -> None:
    """Set the security headers in place: ours replace the app's, except its Cache-Control;
    `csp` replaces the default Content-Security-Policy (the HTML pages')."""
    names = {h[0].lower() for h in headers}
    if csp is None and not (names & _SECURITY_NAMES) - {b"cache-control"}:  # the usual case
        headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
        return
    headers[:] = [h for h in headers
                  if h[0].lower() not in _SECURITY_NAMES or h[0].lower() == b"cache-control"]
    present = {h[0].lower() for h in headers}
    for key, val in SECURITY_HEADERS:
        if csp is not None and key == b"content-security-policy":
            val = csp
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


class StatusWatch:
    """`send`, noting the status of the answer that went through it (500 until one did:
    an exception escaped and the server's error handling answers)."""

    def __init__(self, send: Send) -> None:
        self.status = 500
        self._send = send

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self._send(message)


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
        csp = csp_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                add_security_headers(headers, csp=csp)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, replay(body, receive), send_with_headers)
