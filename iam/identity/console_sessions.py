"""Console sessions: a signed-in browser of the web console, as server-side state.

Signing in (with an API key or a user's password, through the same authentication and
failure limits as `/identity/token`) opens a session: a fresh random token, handed to the
browser once in its cookie, of which only an HMAC digest is kept. Every request re-reads the
row and re-checks the identity and credential it was opened with exactly as an admin access
token is re-checked (`authn.principal_from_claims`): a deleted or disabled key, a deleted
user or a changed password ends it at once. A session ends after `idle` seconds without a
request and at its absolute expiry; signing out deletes its row, so the cookie is worthless
from then on, wherever a copy of it went.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from iam.errors import Unauthenticated
from iam.identity.authn import Principal, principal_from_claims
from iam.store.models import ConsoleSession, new_id, utcnow

TOKEN_BYTES = 32
#: `last_seen_at` is written at most this often per session (a page view is not a write).
TOUCH_EVERY = timedelta(seconds=30)
_DIGEST_CONTEXT = b"console-session\x00"
_CSRF_CONTEXT = b"console-csrf\x00"


def token_digest(token: str, secret: bytes) -> str:
    return hmac.new(secret, _DIGEST_CONTEXT + token.encode(), hashlib.sha256).hexdigest()


def csrf_token(token: str, secret: bytes) -> str:
    """The anti-forgery value of the session behind `token`: derived, never stored, and
    unknowable without the cookie (which pages cannot read: it is HttpOnly)."""
    return hmac.new(secret, _CSRF_CONTEXT + token.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Opened:
    """A new session and its token (shown to the browser once, in the cookie)."""

    row: ConsoleSession
    token: str = field(repr=False)


@dataclass(frozen=True)
class Current:
    """The session a request came with, and who it acts as."""

    row: ConsoleSession
    principal: Principal


def open_session(session: Session, *, secret: bytes, principal: Principal, lifetime: int,
                 idle: int, now: datetime | None = None) -> Opened:
    """A new session for `principal` (always a new id and token: a session id the browser
    brought along is never reused). Sessions that have ended are purged on the way."""
    moment = now or utcnow()
    purge_ended(session, idle=idle, now=moment)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = ConsoleSession(
        id=new_id("ConsoleSession"), token_hash=token_digest(token, secret),
        account_id=principal.account_id, iam_id=principal.iam_id,
        apikey_id=principal.apikey_id,
        credential="" if principal.apikey_id else principal.credential,
        created_at=moment, last_seen_at=moment,
        expires_at=moment + timedelta(seconds=lifetime))
    session.add(row)
    session.flush()
    return Opened(row=row, token=token)


def current_session(session: Session, *, secret: bytes, token: str, idle: int,
                    now: datetime | None = None) -> Current:
    """The live session behind `token` and its re-checked principal; Unauthenticated
    (`no_session`, `session_ended`, or why its credential no longer holds) otherwise."""
    if not token or len(token) > 128:
        raise Unauthenticated(reason="no_session")
    digest = token_digest(token, secret)
    row = session.exec(select(ConsoleSession).where(
        col(ConsoleSession.token_hash) == digest)).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthenticated(reason="no_session")
    moment = now or utcnow()
    if moment >= row.expires_at or moment - row.last_seen_at >= timedelta(seconds=idle):
        raise Unauthenticated(reason="session_ended", account_id=row.account_id,
                              iam_id=row.iam_id)
    claims = {"sub": row.iam_id, "account": row.account_id, "apikey_id": row.apikey_id,
              "pwd": row.credential}
    return Current(row=row, principal=principal_from_claims(session, claims))


def needs_touch(row: ConsoleSession, *, now: datetime | None = None) -> bool:
    return (now or utcnow()) - row.last_seen_at >= TOUCH_EVERY


def touch(session: Session, *, session_id: str, now: datetime | None = None) -> None:
    """Note activity (the idle timeout counts from here)."""
    session.execute(update(ConsoleSession).where(col(ConsoleSession.id) == session_id)
                    .values(last_seen_at=now or utcnow()))


def close_session(session: Session, *, secret: bytes, token: str) -> ConsoleSession | None:
    """Sign out: the row goes, and with it every copy of the cookie. The closed session
    (None when there was none)."""
    if not token or len(token) > 128:
        return None
    row = session.exec(select(ConsoleSession).where(
        col(ConsoleSession.token_hash) == token_digest(token, secret))).first()
    if row is not None:
        session.delete(row)
        session.flush()
    return row


def purge_ended(session: Session, *, idle: int, now: datetime | None = None) -> None:
    moment = now or utcnow()
    session.execute(delete(ConsoleSession).where(or_(
        col(ConsoleSession.expires_at) <= moment,
        col(ConsoleSession.last_seen_at) <= moment - timedelta(seconds=idle))))
