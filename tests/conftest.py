"""Fixtures: a real database (SQLite file or PostgreSQL) migrated by Alembic, and the app.

Every test that uses `client` runs twice, once per backend. The schema is migrated once per
backend per session; each test then starts from empty tables (SQLite: a fresh copy of the
migrated file; PostgreSQL: DELETE from every table and sequences reset, one round trip —
TRUNCATE cost a quarter of a second per test, it makes new files for every table).

Time goes to durability, not to what is tested: the test databases skip waiting for the disk.
Temporary directories (SQLite files, server data) live on tmpfs when the machine has one, and
the throw-away PostgreSQL database commits without waiting for its WAL flush. Both are still
the real engines, with their real locking and constraints.

`make test` runs the suite on two pytest-xdist workers (`--dist loadfile`: a module's tests
stay on one worker, in their order, so a module-scoped server, registry pair or world is built
once as in one process), then the tests marked `serial` alone. Each worker has its own session
fixtures (its own PostgreSQL database, SQLite template and temporary directory); ports and
Redis databases come from `tests/workers.py`.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from iam import bootstrap
from iam.api.app import create_app
from iam.config import Settings
from iam.store.db import migrate

PG_ADMIN_URL = os.environ.get("IAM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b for b in os.environ.get("IAM_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


TMPFS = Path("/dev/shm")


def pytest_configure(config: pytest.Config) -> None:
    """Temporary directories on tmpfs, unless `--basetemp` says where."""
    config.addinivalue_line("markers", "regions(*names): one registry per region for the "
                                       "test's service (fresh_settings)")
    if config.option.basetemp is None and TMPFS.is_dir() and os.access(TMPFS, os.W_OK):
        config.option.basetemp = tempfile.mkdtemp(prefix="iam-tests-", dir=TMPFS)
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)  # tmpfs is memory: give it back


_OWN_BASETEMP = pytest.StashKey[str]()


@pytest.fixture(autouse=True)
def _unfreeze_gc() -> Iterator[None]:
    """The app's lifespan freezes every object alive (`gc.freeze`, a serving optimisation);
    in a test process that would keep each earlier test's garbage forever."""
    yield
    gc.unfreeze()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database, migrated to head, dropped at the end."""
    name = f"iam_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "iam.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Signing key and HMAC secret, made once (key generation is not what we test here)."""
    data = tmp_path_factory.mktemp("data")
    from iam.identity import server_secret
    from iam.tokens import signing

    settings = Settings(data_dir=data, database_url="sqlite://")
    server_secret.create_if_missing(settings)
    signing.generate_key(settings.keys_dir, alg="ES256", issuer=settings.issuer)
    return data


class PgEmptier:
    """Empties every table of the test database (but the migration mark and the authz
    generation) and restarts its sequences, as TRUNCATE ... RESTART IDENTITY would."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_size=1)
        with self.engine.connect() as conn:
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                "AND tablename NOT IN ('alembic_version', 'authz_generation')"
            )).scalars().all()
            sequences = conn.execute(text(
                "SELECT sequencename FROM pg_sequences WHERE schemaname='public'"
            )).scalars().all()
        # Foreign keys are triggers: replica mode skips them, so the order does not matter.
        self.sql = "; ".join(["SET LOCAL session_replication_role = replica",
                              *(f'DELETE FROM "{t}"' for t in tables),
                              *(f"SELECT setval('\"{s}\"', 1, false)" for s in sequences)])

    def empty(self) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self.sql)


@pytest.fixture(scope="session")
def pg_emptier(pg_database: str) -> Iterator[PgEmptier]:
    emptier = PgEmptier(pg_database)
    yield emptier
    emptier.engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def registries_in(*regions: str) -> list[dict[str, str]]:
    """One registry per region (`registry.local` for the region ""), as IAM_REGISTRIES."""
    return [{"service": f"registry.{region or 'local'}", "region": region} for region in regions]


def fresh_settings(backend: str, request: pytest.FixtureRequest, data: Path,
                   **overrides: Any) -> Settings:
    """Settings over empty tables of `backend`, with the shared key and secret in `data`.

    A test marked `@pytest.mark.regions("us-south", ...)` gets one registry per region named
    (the default: one registry, `registry.local`, of region ""): a namespace can only be
    created in a region some registry serves."""
    shutil.copytree(request.getfixturevalue("shared_data_dir"), data)
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, data / "iam.db")
        url = f"sqlite:///{data / 'iam.db'}"
    else:
        url = request.getfixturevalue("pg_database")
        emptier: PgEmptier = request.getfixturevalue("pg_emptier")
        emptier.empty()
    marker = request.node.get_closest_marker("regions")
    if marker is not None:
        overrides.setdefault("registries", registries_in(*marker.args))
    return Settings(data_dir=data, database_url=url, activity_flush_seconds=0.2, **overrides)


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return fresh_settings(backend, request, tmp_path / "data")


@dataclass
class Owner:
    account_id: str
    iam_id: str
    apikey: str


def initialize(settings: Settings) -> Owner:
    """`iam init`: the first account and its owner's bootstrap key."""
    result = bootstrap.initialize(settings)
    assert result.new_account is not None
    return Owner(result.account_id, result.new_account.owner.iam_id, result.new_account.apikey)


@pytest.fixture
def owner(settings: Settings) -> Owner:
    return initialize(settings)


@pytest.fixture
def client(settings: Settings, owner: Owner) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def bearer(client: TestClient, apikey: str) -> dict[str, str]:
    """Exchange an API key for an access token, as `iam login` does."""
    r = client.post("/identity/token", data={
        "grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": apikey})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@dataclass
class Service:
    """An initialised service behind a TestClient, and its owner's headers."""

    settings: Settings
    owner: Owner
    client: TestClient
    admin: dict[str, str]


@contextmanager
def module_service(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """For a module whose tests only read a world built once (`params=BACKENDS`, module
    scope): building the service per test was most of such a module's time."""
    settings = fresh_settings(str(request.param), request,
                              tmp_path_factory.mktemp("service") / "data")
    owner = initialize(settings)
    with TestClient(create_app(settings)) as client:
        yield Service(settings, owner, client, bearer(client, owner.apikey))


@pytest.fixture
def admin(client: TestClient, owner: Owner) -> dict[str, str]:
    """Headers of the account owner."""
    return bearer(client, owner.apikey)
