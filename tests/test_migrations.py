"""Alembic owns the schema: every migration goes up and down on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from iam.store.db import alembic_config, downgrade, migrate
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


# --- 0003: name keys and namespace reservations --------------------------------------------

NOW = "2024-01-01 00:00:00+00:00"


def _seed_at_0002(url: str) -> None:
    """A database as 0002 allowed it: two service IDs named `ci-robot` (and `CI-Robot`),
    users `Alice` and `alice`, a namespace. Written by SQL: the API of today refuses them."""
    migrate(url, "0002")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (id, name, owner_iam_id, is_system, created_at)"
                          " VALUES ('acct', 'a', '', false, :t)"), {"t": NOW})
        for i, name in enumerate(["ci-robot", "ci-robot", "CI-Robot", "other"]):
            conn.execute(text(
                "INSERT INTO service_ids (id, iam_id, account_id, name, description, locked, "
                "created_at, modified_at, entity_tag) VALUES (:id, :iam, 'acct', :name, '', "
                "false, :t, :t, 'x')"),
                {"id": f"ServiceId-{i}", "iam": f"iam-ServiceId-{i}", "name": name, "t": NOW})
        for i, name in enumerate(["Alice", "alice"]):
            conn.execute(text(
                "INSERT INTO users (iam_id, account_id, name, password_hash, locked, created_at,"
                " modified_at, password_changed_at, entity_tag) VALUES (:id, 'acct', :name, "
                "'h', false, :t, :t, :t, 'x')"), {"id": f"iam-User-{i}", "name": name, "t": NOW})
        conn.execute(text("INSERT INTO namespaces (id, account_id, region, name, created_at) "
                          "VALUES ('Namespace-1', 'acct', 'us-south', 'team-a', :t)"), {"t": NOW})
    engine.dispose()


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql)).all()]
    finally:
        engine.dispose()


def _generation(url: str) -> int:
    return int(_rows(url, "SELECT value FROM authz_generation WHERE id = 1")[0][0])  # type: ignore[call-overload]


def _bumps_on_every_watched_change(url: str) -> bool:
    """An insert, an update and a delete on each table whose triggers 0003 could have lost."""
    engine = create_engine(url)
    try:
        keyed = "name_key" in {c["name"] for c in inspect(engine).get_columns("access_groups")}
        columns, values = (", name_key", ", 'g'") if keyed else ("", "")
        statements = [
            "UPDATE service_ids SET description = 'd' WHERE id = 'ServiceId-3'",
            "UPDATE users SET locked = true WHERE iam_id = 'iam-User-0'",
            "UPDATE namespaces SET created_at = created_at WHERE id = 'Namespace-1'",
            "INSERT INTO access_groups (id, account_id, name, description, created_at, "
            f"modified_at, entity_tag{columns}) VALUES ('AccessGroup-t', 'acct', 'g', '', "
            f"'{NOW}', '{NOW}', 'x'{values})",
            "UPDATE access_groups SET description = 'd' WHERE id = 'AccessGroup-t'",
            "DELETE FROM access_groups WHERE id = 'AccessGroup-t'",
        ]
        for sql in statements:
            before = _generation(url)
            with engine.begin() as conn:
                conn.execute(text(sql))
            if _generation(url) <= before:
                return False
        return True
    finally:
        engine.dispose()


def test_upgrade_to_0003_keeps_duplicate_service_id_names_with_keys_that_cannot_collide(
        empty_db: str) -> None:
    _seed_at_0002(empty_db)
    migrate(empty_db)
    rows = _rows(empty_db, "SELECT id, name, name_key FROM service_ids ORDER BY id")
    assert rows == [("ServiceId-0", "ci-robot", "ci-robot"),
                    ("ServiceId-1", "ci-robot", "ci-robot ServiceId-1"),
                    ("ServiceId-2", "CI-Robot", "ci-robot ServiceId-2"),
                    ("ServiceId-3", "other", "other")]
    users = _rows(empty_db, "SELECT iam_id, name, name_key FROM users ORDER BY iam_id")
    assert users == [("iam-User-0", "Alice", "alice"),
                     ("iam-User-1", "alice", "alice iam-User-1")]
    assert _rows(empty_db, "SELECT region, name_key, name, account_id, deleted_at "
                           "FROM namespace_names") == [("us-south", "team-a", "team-a",
                                                        "acct", None)]


def test_authz_triggers_still_fire_after_upgrade_to_0003_and_downgrade_to_0002(
        empty_db: str) -> None:
    _seed_at_0002(empty_db)
    migrate(empty_db)
    assert _bumps_on_every_watched_change(empty_db)
    downgrade(empty_db, "0002")
    assert _bumps_on_every_watched_change(empty_db)
    migrate(empty_db)
    assert _bumps_on_every_watched_change(empty_db)


def test_downgrade_to_0002_and_back_keeps_every_row(empty_db: str) -> None:
    _seed_at_0002(empty_db)
    migrate(empty_db)
    downgrade(empty_db, "0002")
    assert "namespace_names" not in _tables(empty_db)
    names = _rows(empty_db, "SELECT name FROM service_ids ORDER BY id")
    assert names == [("ci-robot",), ("ci-robot",), ("CI-Robot",), ("other",)]
    assert len(_rows(empty_db, "SELECT iam_id FROM users")) == 2
    migrate(empty_db)
    keys = _rows(empty_db, "SELECT name_key FROM service_ids ORDER BY id")
    assert keys == [("ci-robot",), ("ci-robot ServiceId-1",), ("ci-robot ServiceId-2",),
                    ("other",)]


# --- 0004: registries ------------------------------------------------------------------------

_REGISTRY_CHANGES = (
    "INSERT INTO registries (service, region, url, ca_file, tls_verify, delete_enabled, trust,"
    f" created_at, modified_at, removed_at, entity_tag) VALUES ('registry.us', 'us-south', '',"
    f" NULL, true, true, 'bundle', '{NOW}', '{NOW}', NULL, 'x')",
    "UPDATE registries SET region = 'eu-de' WHERE service = 'registry.us'",
    "DELETE FROM registries WHERE service = 'registry.us'",
)


def test_upgrade_to_0004_bumps_the_generation_on_every_registry_change(empty_db: str) -> None:
    migrate(empty_db, "0004")
    engine = create_engine(empty_db)
    try:
        for sql in _REGISTRY_CHANGES:
            before = _generation(empty_db)
            with engine.begin() as conn:
                conn.execute(text(sql))
            assert _generation(empty_db) > before, sql
    finally:
        engine.dispose()


def test_downgrade_to_0003_drops_registries_and_keeps_the_other_triggers(
        empty_db: str) -> None:
    _seed_at_0002(empty_db)
    migrate(empty_db, "0004")
    downgrade(empty_db, "0003")
    assert "registries" not in _tables(empty_db)
    assert _bumps_on_every_watched_change(empty_db)
    migrate(empty_db, "0004")
    assert "registries" in _tables(empty_db)


# --- 0005: namespace removal ---------------------------------------------------------------

def _namespace_changes(url: str) -> bool:
    """A namespace's state change and a removal's lease renewal: the first bumps the
    authorization generation (push is withheld from a deleting namespace), the second must
    not (it would empty every replica's token caches while a removal runs)."""
    engine = create_engine(url)
    try:
        before = _generation(url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE namespaces SET state = 'deleting' WHERE id = 'Namespace-1'"))
        bumped = _generation(url) > before
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO namespace_removals (region, name_key, name, account_id, "
                "namespace_id, started_by, started_at, release_after, lease_holder, "
                "next_attempt_at, attempts, last_error) VALUES ('us-south', 'team-a', "
                f"'team-a', 'acct', 'Namespace-1', '', '{NOW}', '{NOW}', 'p', '{NOW}', 0, '')"))
        before = _generation(url)
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE namespace_removals SET lease_until = '{NOW}'"))
        return bumped and _generation(url) == before
    finally:
        engine.dispose()


def test_upgrade_to_0005_makes_every_namespace_active_and_keeps_the_triggers(
        empty_db: str) -> None:
    _seed_at_0002(empty_db)
    migrate(empty_db, "0005")
    assert _rows(empty_db, "SELECT id, state FROM namespaces") == [("Namespace-1", "active")]
    assert _bumps_on_every_watched_change(empty_db)
    assert _namespace_changes(empty_db)


def test_downgrade_to_0004_drops_the_removals_and_the_state_and_keeps_the_namespace(
        empty_db: str) -> None:
    _seed_at_0002(empty_db)
    migrate(empty_db, "0005")
    assert _namespace_changes(empty_db)  # a removal under way
    downgrade(empty_db, "0004")
    assert "namespace_removals" not in _tables(empty_db)
    assert _rows(empty_db, "SELECT id, name FROM namespaces") == [("Namespace-1", "team-a")]
    assert _bumps_on_every_watched_change(empty_db)
    migrate(empty_db, "0005")
    assert _rows(empty_db, "SELECT state FROM namespaces") == [("active",)]


# --- 0006: trusted profiles, claim rules, issuers -------------------------------------------

FEDERATION_CHANGES = [
    "INSERT INTO issuers (id, account_id, url, audiences, algorithms, static_jwks, allow_http, "
    "max_token_age, description, created_at, modified_at, entity_tag) VALUES ('Issuer-1', "
    f"'acct', 'https://i.example', '[\"a\"]', 'RS256', false, false, 3600, '', '{NOW}', "
    f"'{NOW}', 'x')",
    "INSERT INTO trusted_profiles (id, iam_id, account_id, name, name_key, description, "
    f"created_at, modified_at, entity_tag) VALUES ('Profile-1', 'iam-Profile-1', 'acct', 'p', "
    f"'p', '', '{NOW}', '{NOW}', 'x')",
    "INSERT INTO claim_rules (id, profile_id, account_id, name, type, issuer_url, expiration, "
    "conditions, created_at, modified_at, entity_tag) VALUES ('ClaimRule-1', 'Profile-1', "
    f"'acct', 'r', 'Profile-OIDC', 'https://i.example', 3600, '[]', '{NOW}', '{NOW}', 'x')",
    "UPDATE claim_rules SET expiration = 60 WHERE id = 'ClaimRule-1'",
    "UPDATE issuers SET max_token_age = 60 WHERE id = 'Issuer-1'",
    "UPDATE trusted_profiles SET description = 'd' WHERE id = 'Profile-1'",
    "DELETE FROM claim_rules WHERE id = 'ClaimRule-1'",
    "DELETE FROM trusted_profiles WHERE id = 'Profile-1'",
    "DELETE FROM issuers WHERE id = 'Issuer-1'",
]


def test_changes_to_issuers_profiles_and_rules_bump_the_authz_generation(empty_db: str) -> None:
    _seed_at_0002(empty_db)
    migrate(empty_db)
    engine = create_engine(empty_db)
    try:
        for sql in FEDERATION_CHANGES:
            before = _generation(empty_db)
            with engine.begin() as conn:
                conn.execute(text(sql))
            assert _generation(empty_db) > before, sql
    finally:
        engine.dispose()


def _before_0006(url: str) -> str:
    """The revision 0006 follows (re-chained when other migrations land before it)."""
    down = ScriptDirectory.from_config(alembic_config(url)).get_revision("0006").down_revision
    assert isinstance(down, str)
    return down


def test_downgrade_below_0006_drops_the_federation_tables_and_keeps_the_rest(
        empty_db: str) -> None:
    _seed_at_0002(empty_db)
    migrate(empty_db)
    downgrade(empty_db, _before_0006(empty_db))
    assert not {"issuers", "trusted_profiles", "claim_rules"} & _tables(empty_db)
    assert len(_rows(empty_db, "SELECT id FROM service_ids")) == 4
    assert _bumps_on_every_watched_change(empty_db)


# --- 0008: console sessions ----------------------------------------------------------------

def test_console_sessions_come_with_0008_and_go_with_its_downgrade(empty_db: str) -> None:
    migrate(empty_db, "0008")
    engine = create_engine(empty_db)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("console_sessions")}
        indexes = {i["name"] for i in inspect(engine).get_indexes("console_sessions")}
    finally:
        engine.dispose()
    assert {"token_hash", "iam_id", "apikey_id", "credential", "last_seen_at",
            "expires_at"} <= columns
    assert "token" not in columns  # only the digest of a session token is ever kept
    assert {"ix_console_sessions_account_id", "ix_console_sessions_iam_id"} <= indexes
    downgrade(empty_db, "-1")
    assert "console_sessions" not in _tables(empty_db)


# --- 0009: 64-bit audit event ids ------------------------------------------------------------

_COLUMNS = "ts, account_id, actor, action, outcome, target, client_ip, user_agent, detail"
_VALUES = "CURRENT_TIMESTAMP, '', '', 'test', 'success', '', '', '', '{}'"
AUDIT_EVENT = f"INSERT INTO audit_events ({_COLUMNS}) VALUES ({_VALUES})"
AUDIT_EVENT_WITH_ID = f"INSERT INTO audit_events (id, {_COLUMNS}) VALUES (:id, {_VALUES})"
LAST_32_BIT = 2**31 - 1


def test_audit_event_ids_go_past_the_32_bit_limit_after_0009(empty_db: str) -> None:
    migrate(empty_db, "0009")
    engine = create_engine(empty_db)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # the sequence's next value
                conn.execute(text(f"SELECT setval('audit_events_id_seq', {LAST_32_BIT})"))
            else:  # SQLite's next rowid
                conn.execute(text(AUDIT_EVENT_WITH_ID), {"id": LAST_32_BIT})
            conn.execute(text(AUDIT_EVENT))
    finally:
        engine.dispose()
    assert max(r[0] for r in _rows(empty_db, "SELECT id FROM audit_events")) == LAST_32_BIT + 1


def test_downgrade_below_0009_keeps_the_audit_trail(empty_db: str) -> None:
    migrate(empty_db, "0009")
    engine = create_engine(empty_db)
    try:
        with engine.begin() as conn:
            conn.execute(text(AUDIT_EVENT))
    finally:
        engine.dispose()
    downgrade(empty_db, "0008")
    migrate(empty_db, "0009")
    assert len(_rows(empty_db, "SELECT id FROM audit_events")) == 1
