"""`iam backup` and `iam restore`: the whole service in one archive, and back.

Both work on the local data directory and database (`IAM_DATA_DIR`, `IAM_DATABASE_URL`), like
`iam init`; a backup can run while `iam serve` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iam.cli.app import app
from iam.cli.client import Format, OutputOpt, emit, fail
from iam.errors import ConfigurationError, IamError

if TYPE_CHECKING:
    from iam.config import Settings

PassphraseOpt = Annotated[Path | None, typer.Option(
    help="A file (mode 0600) holding the passphrase that seals the archive (scrypt + "
         "AES-256-GCM); at least 12 characters, its trailing newline ignored")]


def _settings() -> Settings:
    from iam.config import load_settings

    try:
        return load_settings()
    except ConfigurationError as exc:
        fail(exc.message)


def _passphrase(path: Path | None) -> bytes | None:
    if path is None:
        return None
    from iam.store.files import check_private_file

    try:
        check_private_file(path)
        value = path.read_bytes().rstrip(b"\r\n")
    except IamError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    if not value:
        fail(f"{path} is empty; write the passphrase in it")
    return value


@app.command("backup")
def backup(
    out: Annotated[Path, typer.Option(help="The archive to write (a new file, mode 0600)")],
    passphrase_file: PassphraseOpt = None,
    output: OutputOpt = Format.table,
) -> None:
    """Write one consistent archive: the database (an online SQLite snapshot, or pg_dump),
    the HMAC secret, the signing keys and the configuration. Safe while `iam serve` runs."""
    from iam.backup.archive import write_backup

    settings = _settings()
    try:
        summary = write_backup(settings, out=out, passphrase=_passphrase(passphrase_file))
    except IamError as exc:
        fail(exc.message)
    if output == Format.json:
        emit(summary.as_dict(), output)
        return
    sealed = "sealed with the passphrase" if summary.sealed else (
        "NOT sealed: it holds the HMAC secret and the private keys in clear; keep it safe")
    typer.echo(f"Backup written to {summary.path} ({sealed}).")
    typer.echo(f"Database: {summary.backend}, schema {summary.schema}; files: "
               f"{', '.join(summary.files)}")
    if summary.environment:
        typer.echo("Set in the environment, not in the archive (set them again on restore): "
                   + ", ".join(summary.environment))


@app.command("restore")
def restore(
    archive: Annotated[Path, typer.Argument(help="An archive `iam backup` wrote")],
    passphrase_file: PassphraseOpt = None,
    output: OutputOpt = Format.table,
) -> None:
    """Restore an archive into an empty (or new) data directory and an empty database;
    refuses anything else. Then start the service with `iam serve`."""
    from iam.backup.archive import restore_backup

    settings = _settings()
    try:
        summary = restore_backup(settings, archive=archive,
                                 passphrase=_passphrase(passphrase_file))
    except IamError as exc:
        fail(exc.message)
    if output == Format.json:
        emit(summary.as_dict(), output)
        return
    typer.echo(f"Restored the backup of {summary.created_at} ({summary.backend}, schema "
               f"{summary.schema}) into {settings.data_dir}: {', '.join(summary.files)}")
    typer.echo("Start the service: iam serve (it migrates to the latest schema first)")
