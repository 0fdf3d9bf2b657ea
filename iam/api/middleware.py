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


def _too_large_body(limit: int) -> bytes:
    return json.dumps({"errors": [{"code": "payload_too_large",
                                   "message": f"request body exceeds {limit} bytes"}],
                       "status_code": 413}).encode()


class LimitsAndHeaders:
    """Refuse bodies over `max_body` bytes with 413; add security headers to every answer."""

    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit()
                                               or int(value) > self.max_body):
                await self._refuse(send)
                return
        # Read the whole body first (it is small): a chunked body over the limit gets its
        # 413 before any route runs, instead of failing inside FastAPI's body parsing.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_body:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        body: bytes | None = b"".join(chunks)
        docs = scope.get("path", "") in ("/docs", "/redoc")

        async def replay_receive() -> Message:
            nonlocal body
            if body is not None:
                message = {"type": "http.request", "body": body, "more_body": False}
                body = None
                return message
            return await receive()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", [])
                           if h[0].lower() not in {k for k, _ in SECURITY_HEADERS}
                           or h[0].lower() == b"cache-control"]
                present = {h[0].lower() for h in headers}
                for key, val in SECURITY_HEADERS:
                    if docs and key == b"content-security-policy":
                        key, val = _DOCS_CSP
                    if key not in present:
                        headers.append((key, val))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, replay_receive, send_with_headers)

    async def _refuse(self, send: Send) -> None:
        body = _too_large_body(self.max_body)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": body})
