"""Seed a data directory with N service IDs, N API keys, N namespaces and N policies.

Rows go in through SQLAlchemy Core bulk inserts (100,000 identities in seconds), with the
same id formats and the same key digest (`iam.apikeys.digest` with the data dir's secret)
as the domain code. Service ID `i` holds Writer on its own namespace `bench<i:06d>`, so a
push scope is really evaluated and a grant that leaked to another identity would show.

A sample of the keys (spread over the whole range) is written to `keys.txt`, one
`<api key> <namespace>` per line, for the load generator to rotate over.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from iam import bootstrap
from iam.config import Settings, load_settings
from iam.identity import apikey_format, server_secret
from iam.store.db import make_engine
from iam.store.models import ApiKey, Namespace, Policy, ServiceId, new_tag, utcnow

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CHUNK = 5_000
SAMPLE = 2_000
REGISTRY_SERVICE = "registry.local"


@dataclass(frozen=True)
class Seeded:
    """A seeded data directory and how to reach its database."""

    backend: str
    n: int
    data_dir: Path
    database_url: str
    keys_file: Path
    owner_apikey: str

    def env(self) -> dict[str, str]:
        """The `IAM_*` variables that point `iam serve` at this data."""
        return {"IAM_DATA_DIR": str(self.data_dir), "IAM_DATABASE_URL": self.database_url,
                "IAM_REGISTRIES": f'[{{"service":"{REGISTRY_SERVICE}"}}]'}

    def __repr__(self) -> str:
        return f"Seeded({self.backend}, n={self.n}, {self.data_dir})"


def namespace_name(i: int) -> str:
    return f"bench{i:06d}"


def pg_database_name(n: int) -> str:
    return f"iam_bench_n{n}"


def create_pg_database(name: str) -> str:
    """A fresh throw-away PostgreSQL database (dropped first if a past run left it)."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _rows(n: int, *, account_id: str, owner: str, secret: bytes,
          sample: set[int]) -> Iterator[tuple[dict[str, Any], ...] | tuple[int, str]]:
    now = utcnow()
    for i in range(n):
        uid = uuid.uuid4()
        iam_id = f"iam-ServiceId-{uid}"
        ns = namespace_name(i)
        value = apikey_format.generate()
        if i in sample:
            yield (i, f"{value} {ns}")
        yield (
            {"id": f"ServiceId-{uid}", "iam_id": iam_id, "account_id": account_id,
             "name": f"bench-{i}", "description": "", "locked": False, "created_at": now,
             "modified_at": now, "entity_tag": new_tag()},
            {"id": f"ApiKey-{uuid.uuid4()}", "account_id": account_id, "iam_id": iam_id,
             "name": "bench", "description": "", "key_hash": apikey_format.digest(value, secret),
             "locked": False, "disabled": False, "created_at": now, "modified_at": now,
             "expires_at": None, "last_authn": None, "authn_count": 0,
             "entity_tag": new_tag()},
            {"id": f"Namespace-{uuid.uuid4()}", "account_id": account_id, "region": "",
             "name": ns, "created_at": now},
            {"id": f"Policy-{uuid.uuid4()}", "account_id": account_id,
             "subject_iam_id": iam_id, "subject_group_id": None, "roles": "Writer",
             "service": "container-registry", "region": "", "resource_type": "namespace",
             "resource": ns, "repository": "", "created_by": owner, "created_at": now,
             "modified_at": now, "entity_tag": new_tag()},
        )


TABLES = [ServiceId.__table__, ApiKey.__table__, Namespace.__table__,  # type: ignore[attr-defined]
          Policy.__table__]  # type: ignore[attr-defined]


def _insert(engine: Engine, batches: list[list[dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for table, rows in zip(TABLES, batches, strict=True):
            if rows:
                conn.execute(table.insert(), rows)


def bulk_insert(engine: Engine, n: int, *, account_id: str, owner: str, secret: bytes,
                sample_size: int = SAMPLE) -> list[str]:
    """Insert n identities in chunks; the sampled `<key> <namespace>` lines."""
    step = max(1, n // sample_size)
    sample = set(range(0, n, step))
    lines: list[str] = []
    batches: list[list[dict[str, Any]]] = [[] for _ in TABLES]
    for item in _rows(n, account_id=account_id, owner=owner, secret=secret, sample=sample):
        if isinstance(item[0], int):
            lines.append(str(item[1]))
            continue
        for batch, row in zip(batches, item, strict=True):
            batch.append(row)  # type: ignore[arg-type]
        if len(batches[0]) >= CHUNK:
            _insert(engine, batches)
            batches = [[] for _ in TABLES]
    _insert(engine, batches)
    return lines


def seed(work: Path, *, backend: str, n: int) -> Seeded:
    """A fresh, initialised data dir under `work` holding n seeded identities."""
    data_dir = work / f"{backend}-n{n}"
    if data_dir.exists():
        import shutil

        shutil.rmtree(data_dir)
    url = ""
    if backend == "postgresql":
        url = create_pg_database(pg_database_name(n))
    settings: Settings = load_settings(data_dir=data_dir, database_url=url)
    result = bootstrap.initialize(settings, account_name="bench")
    assert result.new_account is not None
    owner = result.new_account.owner.iam_id
    secret = server_secret.load(settings)
    engine = make_engine(settings.db_url)
    try:
        lines = bulk_insert(engine, n, account_id=result.account_id, owner=owner,
                            secret=secret)
        if backend == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    keys_file = data_dir / "keys.txt"
    keys_file.write_text("\n".join(lines) + "\n")
    keys_file.chmod(0o600)
    return Seeded(backend, n, data_dir, settings.db_url, keys_file, result.new_account.apikey)


_SEED_IN_CHECKOUT = ("import sys; from pathlib import Path; from bench.seed import seed; "
                     "print(seed(Path(sys.argv[1]), backend='sqlite', n=int(sys.argv[2]))"
                     ".data_dir)")


def seed_in_checkout(root: Path, work: Path, *, n: int) -> Path:
    """A SQLite data dir seeded by the checkout at `root` with its own `.venv` and code (two
    checkouts' schemas may differ); returns the data dir."""
    out = subprocess.run([str(root / ".venv/bin/python"), "-c", _SEED_IN_CHECKOUT, str(work),
                          str(n)], cwd=root, check=True, capture_output=True, text=True).stdout
    return Path(out.strip().splitlines()[-1])
