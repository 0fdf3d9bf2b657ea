"""The audit trail: append-only events, queued in memory and written in batches.

Recording must never slow or serialise the token endpoint, so `record` only appends to a
list; a background thread, every `FLUSH_INTERVAL_S`, turns what was recorded into rows and
JSON log lines (logger `iam.audit`, one line per event, all of a batch in one write) and
inserts the rows; a clean shutdown flushes the rest. Building each line on the request
cost a fifth of a registry token (BENCHMARKS.md). Events carry ids (API key id, iam_id),
never a key, password or token.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from iam.metrics.instruments import NO_METRICS, Metrics
from iam.store.db import write_session
from iam.store.models import AuditEvent, utcnow
from iam.store.periodic import Periodic, taking_turns

log = logging.getLogger("iam.audit")
AUDIT_TABLE: Table = AuditEvent.__table__  # type: ignore[attr-defined]
FLUSH_INTERVAL_S = 0.5
MAX_QUEUE = 100_000
CHUNK = 100  # events handled between two yields of the interpreter (periodic.taking_turns)
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


def log_line(row: dict[str, Any]) -> str:
    """The event as one JSON line, `{"audit": {...}}`, from its row (detail already JSON)."""
    head = json.dumps({**row, "ts": row["ts"].isoformat(), "detail": None})
    detail: str = row["detail"]  # the last key of a row: its JSON replaces the `null}`
    return '{"audit": ' + head[:-len("null}")] + detail + "}}"


class AuditTrail:
    def __init__(self, engine: Engine, *, retention_days: int,
                 metrics: Metrics = NO_METRICS) -> None:
        self._engine = engine
        self._queue_depth = metrics.audit_queue
        self._flush_time = metrics.audit_flush
        self._written = metrics.audit_written
        self._database_error = metrics.database_error("audit_flush")
        self._retention = timedelta(days=retention_days)
        self._recorded: list[Event] = []  # not yet logged nor queued
        self._queue: deque[dict[str, Any]] = deque()  # rows logged, not yet in the database
        self._lock = threading.Lock()
        self._ticker = Periodic("iam-audit", FLUSH_INTERVAL_S, self._tick)
        self._last_prune = utcnow() - timedelta(days=1)

    def record(self, event: Event) -> None:
        with self._lock:
            self._recorded.append(event)

    def pending(self) -> int:
        with self._lock:
            return len(self._recorded) + len(self._queue)

    def flush(self) -> int:
        """Log what was recorded, then write what is queued; on a database error keep it
        queued for the next try."""
        with self._lock:
            recorded, self._recorded = self._recorded, []
        if recorded:
            rows: list[dict[str, Any]] = []
            lines: list[str] = []
            logged = log.isEnabledFor(logging.INFO)
            for chunk in taking_turns(recorded, CHUNK):
                for event in chunk:
                    row = event.row()
                    rows.append(row)
                    if logged:
                        lines.append(log_line(row))
            if lines:
                log.info("\n".join(lines))
            with self._lock:
                if len(self._queue) + len(rows) > MAX_QUEUE:
                    log.error("audit queue over %d; the database is not keeping up", MAX_QUEUE)
                self._queue.extend(rows)
        with self._lock:
            batch = list(self._queue)
        if not batch:
            self._queue_depth.set(self.pending())
            return 0
        started = time.perf_counter()
        try:
            with write_session(self._engine) as session:
                # Core executemany: the ORM's bulk-insert bookkeeping cost more than the write.
                for rows_chunk in taking_turns(batch, CHUNK):
                    session.execute(insert(AUDIT_TABLE), rows_chunk)
        except SQLAlchemyError as exc:
            self._database_error.inc()
            self._queue_depth.set(self.pending())
            log.warning("could not write %d audit events (%s); will retry", len(batch),
                        type(exc).__name__)
            return 0
        self._flush_time.observe(time.perf_counter() - started)
        self._written.inc(len(batch))
        with self._lock:
            for _ in range(len(batch)):
                self._queue.popleft()
        self._queue_depth.set(self.pending())
        return len(batch)

    def prune(self) -> int:
        cutoff = utcnow() - self._retention
        with write_session(self._engine) as session:
            result = session.execute(delete(AuditEvent).where(col(AuditEvent.ts) < cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def _tick(self) -> None:
        self.flush()
        if utcnow() - self._last_prune > timedelta(hours=1):
            self._last_prune = utcnow()
            try:
                self.prune()
            except SQLAlchemyError:
                log.warning("could not prune old audit events; will retry")

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop(timeout=10)
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
