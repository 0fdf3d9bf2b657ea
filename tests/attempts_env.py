"""Helpers for the suites that attack the token endpoints of a running server from several
client addresses (Linux lets a client bind any 127.0.0.0/8 source address)."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

from tests.server import Server

SERVICE = "registry.local"
APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
INVALID_GRANT = {"error": "invalid_grant", "error_description": "the credentials are not valid"}
UNAUTHORIZED = [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": []}]


def from_ip(ip: str, **headers: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=ip), timeout=10,
                        headers=headers)


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(
        f"{username}:{password}".encode()).decode()}


def registry_login(http: httpx.Client, srv: Server, username: str, password: str,
                   **headers: str) -> httpx.Response:
    return http.get(f"{srv.url}/token", params={"service": SERVICE},
                    headers={**basic(username, password), **headers})


def key_exchange(http: httpx.Client, srv: Server, apikey: str, **headers: str
                 ) -> httpx.Response:
    return http.post(f"{srv.url}/identity/token", headers=headers,
                     data={"grant_type": APIKEY_GRANT, "apikey": apikey})


def password_login(http: httpx.Client, srv: Server, username: str, password: str
                   ) -> httpx.Response:
    return http.post(f"{srv.url}/identity/token",
                     data={"grant_type": "password", "username": username,
                           "password": password})


def bearer(srv: Server, apikey: str) -> dict[str, str]:
    r = httpx.post(f"{srv.url}/identity/token", timeout=10,
                   data={"grant_type": APIKEY_GRANT, "apikey": apikey})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def events(srv: Server, headers: dict[str, str], *, user_agent: str | None = None,
           expect: int = 1, wait: float = 5, **params: Any) -> list[dict[str, Any]]:
    """Audit events the bearer may read (optionally only those of one user agent), waiting
    up to `wait` seconds for at least `expect` of them (the trail is written every 0.5 s)."""
    deadline = time.monotonic() + wait
    while True:
        r = httpx.get(f"{srv.url}/v1/audit-events", headers=headers, timeout=10,
                      params={"limit": 1000, **params})
        assert r.status_code == 200, r.text
        found = [e for e in r.json()["data"]
                 if user_agent is None or e["user_agent"] == user_agent]
        if len(found) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
