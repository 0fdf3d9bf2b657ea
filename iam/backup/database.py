"""The database half of a backup: a consistent copy while the service runs, and its restore.

- SQLite: the online backup API copies every page in one step under a read transaction; in
  WAL mode writers go on meanwhile, and the copy is the database as of that transaction.
- PostgreSQL: `pg_dump --format=custom`, one repeatable-read snapshot of the database (the
  triggers of the authorization generation included), restored by `pg_restore` in one
  transaction into an empty database. `pg_dump` must be of the server's major version or
  newer (Debian: the `postgresql-client` package). The password goes in the environment of
  the tools, never on a command line.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from iam.errors import BackupError
from iam.store.db import make_engine

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
TOOL_TIMEOUT_S = 3600


def backend_of(url: str) -> str:
    return SQLITE if url.startswith("sqlite") else POSTGRESQL


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url} is not an SQLite file")
    return Path(database)


def snapshot(url: str, out: Path) -> None:
    """A consistent copy of the database at `url` into the file `out` (mode 0600)."""
    if backend_of(url) == SQLITE:
        _sqlite_snapshot(sqlite_path(url), out)
    else:
        _pg_tool("pg_dump", url, ["--format=custom", "--no-owner", "--no-privileges",
                                  f"--file={out}"])
    out.chmod(0o600)


def _sqlite_snapshot(source: Path, out: Path) -> None:
    if not source.is_file():
        raise BackupError(f"the database {source} does not exist")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=15)
    dest = sqlite3.connect(out)
    try:
        with dest:
            src.backup(dest)  # every page in one step: one consistent read transaction
        dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
    except sqlite3.Error as exc:
        raise BackupError(f"could not copy the SQLite database {source}: {exc}") from None
    finally:
        dest.close()
        src.close()


def restore(url: str, dump: Path) -> None:
    """Put `dump` (as `snapshot` wrote it) in place of an empty or missing database."""
    if backend_of(url) == SQLITE:
        target = sqlite_path(url)
        if target.exists():
            raise BackupError(f"the database {target} exists; restore only into a new one")
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(dump, target)
        target.chmod(0o600)
        return
    engine = make_engine(url)
    try:
        tables = inspect(engine).get_table_names()
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot reach the database to restore into: "
                          f"{type(exc).__name__}") from None
    finally:
        engine.dispose()
    if tables:
        raise BackupError(f"the database to restore into is not empty ({len(tables)} tables); "
                          "create an empty one and point IAM_DATABASE_URL at it")
    _pg_tool("pg_restore", url, ["--no-owner", "--no-privileges", "--exit-on-error",
                                 "--single-transaction", str(dump)])


def _pg_tool(tool: str, url: str, args: list[str]) -> None:
    """`pg_dump` or `pg_restore` against `url`, its password in PGPASSWORD."""
    binary = shutil.which(tool)
    if binary is None:
        raise BackupError(f"{tool} not found: install PostgreSQL's client tools "
                          "(Debian: postgresql-client)")
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    target = parsed.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False)
    try:
        done = subprocess.run(  # noqa: S603 (our arguments; the tool found on PATH)
            [binary, f"--dbname={target}", *args], env=env, capture_output=True, text=True,
            timeout=TOOL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{tool} did not finish within {TOOL_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise BackupError(f"{tool} failed: {done.stderr.strip()[-500:]}")
