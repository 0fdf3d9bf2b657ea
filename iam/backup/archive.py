"""One archive per backup: `manifest.json`, then `database/dump`, then `data/...`.

The manifest names the format, the version and schema revision that wrote it, the database
backend, and the SHA-256 of every other member; a restore checks each before anything is
put in place. `data/` is the data directory as it was (the HMAC secret, the signing keys,
`config.toml`, whatever else lives there) less the database's own files and the metrics
scratch directory; a configuration file named by `IAM_CONFIG_FILE` outside it is kept as
`data/config.toml`. Settings given in the environment are not files: the summary lists their
names (never their values) so that the operator sets them again.

The archive is a gzip'd tar, sealed with a passphrase when one is given (`sealing`), mode
0600 either way: unsealed, it holds the HMAC secret and the private keys in clear.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from iam import __version__
from iam.backup import database, sealing
from iam.config import Settings, config_file
from iam.errors import BackupError
from iam.identity import server_secret
from iam.store.db import (
    current_revision,
    is_known_revision,
    make_engine,
    read_session,
    revision_of_file,
)
from iam.store.models import AuditEvent

FORMAT = 1
MANIFEST = "manifest.json"
DUMP = "database/dump"
DATA = "data/"
#: What the service's audit trail may still hold in memory when a backup starts is written
#: within a few flush intervals (0.5 s each). The backup waits at least SETTLE_S, then until
#: the trail holds an event recorded after it started (a busy server flushed past that
#: point), at most SETTLE_MAX_S: so the snapshot has every event from before the backup.
SETTLE_S = 1.5
SETTLE_MAX_S = 10.0
_SKIPPED_DIRS = {"metrics"}  # the Prometheus files of running workers
_SCRATCH = ".iam-"  # a backup's or a restore's own work directory, if it is in there


@dataclass(frozen=True)
class Summary:
    """What a backup holds, or what a restore put back."""

    path: str
    backend: str
    schema: str
    created_at: str
    version: str
    sealed: bool
    files: list[str]
    environment: list[str]  # IAM_ settings set in the environment (names only)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _environment() -> list[str]:
    return sorted(k for k in os.environ if k.startswith("IAM_"))


def _data_files(settings: Settings) -> dict[str, bytes]:
    """The data directory's files (read now: they are small), less the database's own."""
    root = settings.data_dir
    skipped: set[Path] = set()
    if database.backend_of(settings.db_url) == database.SQLITE:
        db = database.sqlite_path(settings.db_url).resolve()
        skipped = {db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal"))}
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if (rel.parts[0] in _SKIPPED_DIRS or rel.parts[0].startswith(_SCRATCH)
                or not path.is_file() or path.is_symlink() or path.resolve() in skipped
                or path.suffix in (".tmp", ".part")):
            continue
        found[rel.as_posix()] = path.read_bytes()
    explicit = config_file()
    if explicit is not None and "config.toml" not in found and explicit.is_file():
        found["config.toml"] = explicit.read_bytes()
    if settings.hmac_secret is not None and server_secret.FILE_NAME not in found:
        # From the environment: kept as the file, so that the archive is enough by itself.
        found[server_secret.FILE_NAME] = settings.hmac_secret.get_secret_value().encode()
    return found


def _add(tar: tarfile.TarFile, name: str, data: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(time.time())
    tar.addfile(info, data)


def _settle(settings: Settings, started: datetime, minimum: float) -> None:
    """Wait for the running service's audit flushes (see SETTLE_S)."""
    time.sleep(minimum)
    if minimum <= 0:
        return
    deadline = time.monotonic() + SETTLE_MAX_S - minimum
    engine = make_engine(settings.db_url)
    try:
        while time.monotonic() < deadline:
            try:
                with read_session(engine) as session:
                    newest = session.exec(select(func.max(AuditEvent.ts))).one()
            except SQLAlchemyError as exc:
                raise BackupError(f"cannot read the database: {type(exc).__name__}") from None
            if newest is not None and (newest if newest.tzinfo else
                                       newest.replace(tzinfo=UTC)) >= started:
                return
            time.sleep(0.2)
    finally:
        engine.dispose()


def write_backup(settings: Settings, *, out: Path, passphrase: bytes | None,
                 settle_seconds: float = SETTLE_S) -> Summary:
    """Write the archive to `out` (a new file, mode 0600), sealed if `passphrase`."""
    if out.exists():
        raise BackupError(f"{out} exists; write the backup to a new file")
    server_secret.load(settings)  # refuse a data directory without a usable secret
    _settle(settings, datetime.now(UTC), settle_seconds)
    out.parent.mkdir(parents=True, exist_ok=True)
    backend = database.backend_of(settings.db_url)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".iam-backup-") as work:
        dump = Path(work) / "dump"
        database.snapshot(settings.db_url, dump)
        schema = (revision_of_file(dump) if backend == database.SQLITE
                  else current_revision(settings.db_url)) or ""
        files = _data_files(settings)
        created_at = datetime.now(UTC).isoformat()
        manifest = {"format": FORMAT, "version": __version__, "schema": schema,
                    "backend": backend, "created_at": created_at,
                    "members": {DUMP: _file_sha256(dump),
                                **{DATA + name: _sha256(data) for name, data in files.items()}}}
        part = out.with_name(out.name + ".part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw:
                sink: Any = sealing.SealingWriter(raw, passphrase) if passphrase else raw
                with tarfile.open(fileobj=sink, mode="w|gz") as tar:
                    body = json.dumps(manifest, indent=2).encode()
                    _add(tar, MANIFEST, io.BytesIO(body), len(body))
                    with dump.open("rb") as f:
                        _add(tar, DUMP, f, dump.stat().st_size)
                    for name, data in files.items():
                        _add(tar, DATA + name, io.BytesIO(data), len(data))
                if passphrase:
                    sink.close()
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(part, out)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    return Summary(str(out), backend, schema, created_at, __version__, bool(passphrase),
                   sorted(files), _environment())


def _member_path(name: str) -> PurePosixPath:
    """A member's path, refused unless it is one this format writes."""
    path = PurePosixPath(name)
    if (path.is_absolute() or ".." in path.parts or not path.parts
            or (name not in (MANIFEST, DUMP) and path.parts[0] != DATA.rstrip("/"))
            or (path.parts[0] == "data" and len(path.parts) < 2)):
        raise BackupError(f"the archive holds an unexpected member {name[:100]!r}")
    return path


def _open(archive: Path, passphrase: bytes | None) -> IO[bytes]:
    try:
        source = archive.open("rb")
    except OSError as exc:
        raise BackupError(f"cannot read {archive}: {exc.strerror}") from None
    head = source.read(len(sealing.MAGIC))
    source.seek(0)
    if sealing.sealed(head):
        if not passphrase:
            source.close()
            raise BackupError(f"{archive} is sealed with a passphrase: give "
                              "--passphrase-file")
        try:
            return sealing.OpeningReader(source, passphrase)  # type: ignore[return-value]
        except BaseException:
            source.close()
            raise
    return source


def _unpack(archive: Path, passphrase: bytes | None, into: Path) -> dict[str, Any]:
    """Every member into `into`, checked against the manifest; returns the manifest."""
    manifest: dict[str, Any] | None = None
    seen: set[str] = set()
    source = _open(archive, passphrase)
    try:
        with tarfile.open(fileobj=source, mode="r|gz") as tar:
            for member in tar:
                path = _member_path(member.name)
                if not member.isfile():
                    raise BackupError(f"the archive member {member.name[:100]!r} is no file")
                data = tar.extractfile(member)
                assert data is not None
                if manifest is None:
                    if member.name != MANIFEST or member.size > 1 << 20:
                        raise BackupError(f"{archive} is no registry-iam backup (no manifest)")
                    manifest = json.loads(data.read())
                    if manifest.get("format") != FORMAT:
                        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
                    continue
                expected = manifest["members"].get(member.name)
                if expected is None or member.name in seen:
                    raise BackupError(f"the archive member {member.name[:100]!r} is not in "
                                      "its manifest")
                target = into.joinpath(*path.parts)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                digest = hashlib.sha256()
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    for block in iter(lambda: data.read(1 << 20), b""):  # noqa: B023
                        digest.update(block)
                        out.write(block)
                if digest.hexdigest() != expected:
                    raise BackupError(f"the archive member {member.name!r} was altered")
                seen.add(member.name)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise BackupError(f"{archive} is damaged or no backup: {exc}") from None
    finally:
        source.close()
    if manifest is None:
        raise BackupError(f"{archive} is empty")
    missing = set(manifest["members"]) - seen
    if missing:
        raise BackupError(f"the archive is incomplete: {sorted(missing)[:5]} missing")
    return manifest


def restore_backup(settings: Settings, *, archive: Path, passphrase: bytes | None) -> Summary:
    """Put the archive back into an empty (or new) data directory and an empty database."""
    data_dir = settings.data_dir
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} is not empty; restore only into an empty or new data "
                          "directory (IAM_DATA_DIR)")
    try:
        with archive.open("rb") as f:
            was_sealed = sealing.sealed(f.read(len(sealing.MAGIC)))
    except OSError as exc:
        raise BackupError(f"cannot read {archive}: {exc.strerror}") from None
    created = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with tempfile.TemporaryDirectory(dir=data_dir.parent, prefix=".iam-restore-") as work:
            staging = Path(work)
            manifest = _unpack(archive, passphrase, staging)
            backend = database.backend_of(settings.db_url)
            if manifest["backend"] != backend:
                raise BackupError(
                    f"the archive holds a {manifest['backend']} database and the target is "
                    f"{backend}: " + ("point IAM_DATABASE_URL at an empty PostgreSQL database"
                                      if manifest["backend"] == database.POSTGRESQL else
                                      "leave IAM_DATABASE_URL unset (SQLite in the data "
                                      "directory)"))
            if manifest["schema"] and not is_known_revision(manifest["schema"]):
                raise BackupError(f"the archive's schema {manifest['schema']} is newer than "
                                  "this version knows; restore with the version that made it "
                                  f"({manifest['version']}) or newer")
            database.restore(settings.db_url, staging / "database" / "dump")
            files: list[str] = []
            data_root = staging / "data"
            for path in sorted(data_root.rglob("*")) if data_root.exists() else []:
                if path.is_file():
                    rel = path.relative_to(data_root)
                    target = data_dir / rel
                    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    shutil.move(path, target)
                    files.append(rel.as_posix())
    except BaseException:
        if created:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            for child in data_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        raise
    return Summary(str(archive), manifest["backend"], manifest["schema"],
                   manifest["created_at"], manifest["version"], was_sealed, files,
                   _environment())
