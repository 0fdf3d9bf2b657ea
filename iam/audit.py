"""The audit trail: append-only events, queued in memory and written in batches.

Recording must never slow or serialise the token endpoint, so `record` only appends to a
queue; a background thread inserts batches every `FLUSH_INTERVAL_S` and a clean shutdown
flushes the rest. Each event is also written at once as one JSON log line (logger
`iam.audit`). Events carry ids (API key id, iam_id), never a key, password or token.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from iam.db import write_session
from iam.models import AuditEvent, utcnow

log = logging.getLogger("iam.audit")
AUDIT_TABLE: Table = AuditEvent.__table__  # type: ignore[attr-defined]
FLUSH_INTERVAL_S = 0.5
MAX_QUEUE = 100_000
_MAX_TEXT = 256


@dataclass(frozen=True)
class Event:
    action: str
    outcome: str  # "success" | "failure" | "denied" | "allowed"
    account_id: str = ""
    actor: str = ""
    target: str = ""
    client_ip: str = ""
    user_agent: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    ts: datetime = field(default_factory=utcnow)

    def row(self) -> dict[str, Any]:
        return {"ts": self.ts, "account_id": self.account_id[:64], "actor": self.actor[:80],
                "action": self.action[:128], "outcome": self.outcome[:16],
                "target": self.target[:_MAX_TEXT], "client_ip": self.client_ip[:64],
                "user_agent": self.user_agent[:_MAX_TEXT],
                "detail": json.dumps(self.detail, default=str, sort_keys=True)}


class AuditTrail:
    def __init__(self, engine: Engine, *, retention_days: int) -> None:
        self._engine = engine
        self._retention = timedelta(days=retention_days)
        self._queue: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune = utcnow() - timedelta(days=1)

    def record(self, event: Event) -> None:
        row = event.row()
        log.info('{"audit": %s}', json.dumps({**row, "ts": event.ts.isoformat(),
                                               "detail": event.detail}, default=str))
        with self._lock:
            if len(self._queue) >= MAX_QUEUE:
                log.error("audit queue full (%d); the database is not keeping up", MAX_QUEUE)
            self._queue.append(row)

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def flush(self) -> int:
        """Write what is queued; on a database error keep it queued for the next try."""
        with self._lock:
            batch = list(self._queue)
        if not batch:
            return 0
        try:
            with write_session(self._engine) as session:
                # Core executemany: the ORM's bulk-insert bookkeeping cost more than the write.
                session.execute(insert(AUDIT_TABLE), batch)
        except SQLAlchemyError as exc:
            log.warning("could not write %d audit events (%s); will retry", len(batch),
                        type(exc).__name__)
            return 0
        with self._lock:
            for _ in range(len(batch)):
                self._queue.popleft()
        return len(batch)

    def prune(self) -> int:
        cutoff = utcnow() - self._retention
        with write_session(self._engine) as session:
            result = session.execute(delete(AuditEvent).where(col(AuditEvent.ts) < cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_S):
            self.flush()
            if utcnow() - self._last_prune > timedelta(hours=1):
                self._last_prune = utcnow()
                try:
                    self.prune()
                except SQLAlchemyError:
                    log.warning("could not prune old audit events; will retry")

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="iam-audit", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for _ in range(3):
            self.flush()
            if not self.pending():
                return
        log.error("%d audit events could not be written at shutdown", self.pending())


def list_events(session: Session, *, account_id: str, since: datetime | None = None,
                until: datetime | None = None, actor: str | None = None,
                action: str | None = None, outcome: str | None = None, limit: int = 100,
                before_id: int | None = None) -> list[AuditEvent]:
    """Newest first; `before_id` pages backwards (pass the last id of the previous page)."""
    query = select(AuditEvent).where(col(AuditEvent.account_id) == account_id)
    if since is not None:
        query = query.where(col(AuditEvent.ts) >= since)
    if until is not None:
        query = query.where(col(AuditEvent.ts) < until)
    if actor:
        query = query.where(col(AuditEvent.actor) == actor)
    if action:
        query = query.where(col(AuditEvent.action).startswith(action, autoescape=True))
    if outcome:
        query = query.where(col(AuditEvent.outcome) == outcome)
    if before_id is not None:
        query = query.where(col(AuditEvent.id) < before_id)
    return list(session.exec(query.order_by(col(AuditEvent.id).desc()).limit(limit)).all())
