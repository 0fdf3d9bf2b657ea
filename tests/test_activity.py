"""Key activity: counts and last use written in one batched UPDATE per flush."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from iam.audit.activity import ActivityRecorder
from iam.config import Settings
from iam.identity.apikeys import create_api_key
from iam.store.db import make_engine, write_session
from iam.store.journal import ChangeJournal
from iam.store.models import ApiKey, utcnow
from tests.conftest import Owner


def _keys(settings: Settings, owner: Owner, count: int) -> list[str]:
    engine = make_engine(settings.db_url)
    with write_session(engine) as session:
        ids = [create_api_key(session, journal=ChangeJournal(), secret=b"s" * 32,
                              account_id=owner.account_id, iam_id=owner.iam_id,
                              name=f"k{i}")[0].id for i in range(count)]
    engine.dispose()
    return ids


def test_flush_adds_every_key_count_and_last_use(settings: Settings, owner: Owner) -> None:
    ids = _keys(settings, owner, 3)
    engine = make_engine(settings.db_url)
    recorder = ActivityRecorder(engine, 60)
    before = utcnow()
    for _ in range(4):
        recorder.record(ids[0])
    recorder.record(ids[1])
    assert recorder.flush() == 2
    recorder.record(ids[0])
    assert recorder.flush() == 1
    with Session(engine) as session:
        rows = {r.id: r for r in session.exec(select(ApiKey)).all()}
    engine.dispose()
    assert rows[ids[0]].authn_count == 5
    assert rows[ids[1]].authn_count == 1
    assert rows[ids[2]].authn_count == 0 and rows[ids[2]].last_authn is None
    last = rows[ids[0]].last_authn
    assert last is not None and before - timedelta(seconds=1) <= last <= utcnow()


def test_flush_never_moves_last_use_backwards(settings: Settings, owner: Owner) -> None:
    [key_id] = _keys(settings, owner, 1)
    engine = make_engine(settings.db_url)
    recorder = ActivityRecorder(engine, 60)
    recorder.record(key_id)
    recorder.flush()
    with Session(engine) as session:
        newest = session.get(ApiKey, key_id)
        assert newest is not None and newest.last_authn is not None
        first = newest.last_authn
    recorder._pending[key_id] = (1, first - timedelta(hours=1))  # a late, older record
    recorder.flush()
    with Session(engine) as session:
        row = session.get(ApiKey, key_id)
    engine.dispose()
    assert row is not None and row.authn_count == 2 and row.last_authn == first
