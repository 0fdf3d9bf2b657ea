"""Who asks for a registry token: IBM's login conventions, one credential kind each.

- username `iamapikey`, password an API key (HMAC lookup, no slow hash);
- username `iambearer`, password an IAM access token from `/identity/token`;
- any other username: a user and that user's password (argon2, user logins only);
- the POST refresh grant: a refresh token, which dies with its key or user.

Every failure is the same `Unauthenticated`. A client (address + username) that fails too
often is locked out for a while and gets that same answer without its credential being
checked.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from dataclasses import dataclass, field

from sqlmodel import Session

from iam import access_tokens, authn
from iam.authn import Principal
from iam.config import Settings
from iam.errors import Unauthenticated
from iam.signing import Keyring

APIKEY_USER = "iamapikey"
BEARER_USER = "iambearer"
MAX_CREDENTIAL = 8192


@dataclass(frozen=True)
class BasicCredentials:
    username: str
    password: str = field(repr=False)


def parse_basic(header: str | None) -> BasicCredentials | None:
    """None without an `Authorization` header; Unauthenticated when it is not valid Basic."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or len(value) > MAX_CREDENTIAL:
        raise Unauthenticated()
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated() from None
    username, sep, password = decoded.partition(":")
    if not sep or not username or not password:
        raise Unauthenticated()
    return BasicCredentials(username=username, password=password)


def authenticate_basic(session: Session, *, settings: Settings, keyring: Keyring,
                       secret: bytes, credentials: BasicCredentials) -> Principal:
    """The principal behind a docker login, by IBM's username conventions."""
    if credentials.username == APIKEY_USER:
        return authn.authenticate_api_key(session, secret=secret, value=credentials.password)
    if credentials.username == BEARER_USER:
        claims = access_tokens.verify_access(settings, keyring, credentials.password)
        return authn.principal_from_claims(session, claims)
    return authn.authenticate_password(session, username=credentials.username,
                                       password=credentials.password)


def authenticate_refresh(session: Session, *, settings: Settings, keyring: Keyring,
                         refresh_token: str) -> Principal:
    """The principal behind a refresh token, re-checked: its key or user must still be good."""
    claims = access_tokens.verify_refresh(settings, keyring, refresh_token)
    return authn.principal_from_claims(session, claims)


class FailureLimiter:
    """Locks a client out for `lockout_s` after `max_failures` failures within `window_s`."""

    def __init__(self, *, max_failures: int = 20, window_s: float = 60.0,
                 lockout_s: float = 300.0, max_clients: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.max_clients = max_clients
        self._failures: dict[str, list[float]] = {}
        self._locked: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Raise Unauthenticated while `client` is locked out."""
        with self._lock:
            until = self._locked.get(client)
            if until is None:
                return
            if until > time.monotonic():
                raise Unauthenticated()
            del self._locked[client]

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) >= self.max_clients:
                self._purge(now)
            recent = [t for t in self._failures.get(client, []) if now - t < self.window_s]
            recent.append(now)
            if len(recent) >= self.max_failures:
                self._locked[client] = now + self.lockout_s
                self._failures.pop(client, None)
            else:
                self._failures[client] = recent

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def _purge(self, now: float) -> None:
        self._failures = {c: ts for c, ts in self._failures.items()
                          if ts and now - ts[-1] < self.window_s}
        self._locked = {c: u for c, u in self._locked.items() if u > now}
        while len(self._failures) >= self.max_clients:  # still full: forget the oldest
            self._failures.pop(next(iter(self._failures)))
