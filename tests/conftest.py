"""Fixtures: a real database (SQLite file or PostgreSQL) migrated by Alembic, and the app.

Every test that uses `client` runs twice, once per backend. The schema is migrated once per
backend per session; each test then starts from empty tables (SQLite: a fresh copy of the
migrated file; PostgreSQL: TRUNCATE).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from iam import bootstrap
from iam.api.app import create_app
from iam.config import Settings
from iam.store.db import migrate

PG_ADMIN_URL = os.environ.get("IAM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b for b in os.environ.get("IAM_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database, migrated to head, dropped at the end."""
    name = f"iam_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
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


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path,
             shared_data_dir: Path) -> Settings:
    data = tmp_path / "data"
    shutil.copytree(shared_data_dir, data)
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, data / "iam.db")
        url = f"sqlite:///{data / 'iam.db'}"
    else:
        url = request.getfixturevalue("pg_database")
        engine = create_engine(url)
        with engine.begin() as conn:
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                "AND tablename NOT IN ('alembic_version', 'authz_generation')"
            )).scalars().all()
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        engine.dispose()
    return Settings(data_dir=data, database_url=url, activity_flush_seconds=0.2)


@dataclass
class Owner:
    account_id: str
    iam_id: str
    apikey: str


@pytest.fixture
def owner(settings: Settings) -> Owner:
    """`iam init`: the first account and its owner's bootstrap key."""
    result = bootstrap.initialize(settings)
    assert result.new_account is not None
    return Owner(result.account_id, result.new_account.owner.iam_id, result.new_account.apikey)


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


@pytest.fixture
def admin(client: TestClient, owner: Owner) -> dict[str, str]:
    """Headers of the account owner."""
    return bearer(client, owner.apikey)
