"""Alembic owns the schema: every migration goes up and down on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from iam.db import alembic_config, downgrade, migrate
from tests.conftest import PG_ADMIN_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    name = f"iam_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_to_head_then_downgrade_to_base_leaves_nothing(empty_db: str) -> None:
    migrate(empty_db)
    assert {"accounts", "service_ids", "api_keys", "policies"} <= _tables(empty_db)
    downgrade(empty_db, "base")
    assert _tables(empty_db) == set()


def test_each_revision_downgrades_and_upgrades_one_step(empty_db: str) -> None:
    cfg = alembic_config(empty_db)
    revisions = list(reversed(list(ScriptDirectory.from_config(cfg).walk_revisions())))
    for revision in revisions:
        command.upgrade(cfg, revision.revision)
        command.downgrade(cfg, "-1")
        command.upgrade(cfg, revision.revision)


def test_models_match_migrations(empty_db: str) -> None:
    """The tables SQLModel describes are exactly what the migrations create."""
    migrate(empty_db)
    command.check(alembic_config(empty_db))
