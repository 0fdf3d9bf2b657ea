"""Key activity (`last_authn`, `authn_count`) recorded in memory and written in batches.

Writing on every authentication would turn each `docker pull` into a write that queues
behind every other one (SQLite has one writer). Instead counts accumulate here and a
background thread flushes them every `activity_flush_seconds`: the figures shown lag by at
most that much, and a clean shutdown flushes what is left.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Table, bindparam, case, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from iam.metrics.instruments import NO_METRICS, Metrics
from iam.store.db import write_session
from iam.store.models import ApiKey, UTCDateTime, utcnow
from iam.store.periodic import Periodic, taking_turns

log = logging.getLogger("iam.activity")


def _flush_statement() -> Any:
    """One UPDATE executed with many parameter sets (executemany): compiled once per flush,
    not once per key, so a flush of thousands of keys costs milliseconds, not a core."""
    table: Table = ApiKey.__table__  # type: ignore[attr-defined]
    last = bindparam("last", type_=UTCDateTime())
    return update(table).where(table.c.id == bindparam("key_id")).values(
        authn_count=table.c.authn_count + bindparam("count", type_=Integer()),
        last_authn=case((table.c.last_authn.is_(None), last), (table.c.last_authn < last, last),
                        else_=table.c.last_authn),
    )


_FLUSH = _flush_statement()
CHUNK = 200  # keys per statement (see periodic.taking_turns)


class ActivityRecorder:
    def __init__(self, engine: Engine, interval: float, *,
                 metrics: Metrics = NO_METRICS) -> None:
        self._engine = engine
        self._database_error = metrics.database_error("activity_flush")
        self._pending: dict[str, tuple[int, datetime]] = {}
        self._lock = threading.Lock()
        self._ticker = Periodic("iam-activity", interval, self.flush)

    def record(self, apikey_id: str) -> None:
        now = utcnow()
        with self._lock:
            count, _ = self._pending.get(apikey_id, (0, now))
            self._pending[apikey_id] = (count + 1, now)

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            params = [{"key_id": key_id, "count": count, "last": last}
                      for key_id, (count, last) in pending.items()]
            with write_session(self._engine) as session:
                for chunk in taking_turns(params, CHUNK):
                    session.connection().execute(_FLUSH, chunk)
        except SQLAlchemyError as exc:
            self._database_error.inc()
            log.warning("could not record key activity (%s); will retry", type(exc).__name__)
            with self._lock:  # put the counts back, merged with anything newer
                for key_id, (count, last) in pending.items():
                    newer, newest = self._pending.get(key_id, (0, last))
                    self._pending[key_id] = (count + newer, max(last, newest))
            return 0
        return len(pending)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop(timeout=5)
        self.flush()
