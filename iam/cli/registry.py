"""Commands on the local data directory for registries: `keys list|rotate`, `registry-config`.

Like `init` and `serve`, they read and write the data directory directly (no server call).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iam.cli.app import app, keys_app
from iam.cli.client import Format, OutputOpt, emit, fail
from iam.errors import IamError

if TYPE_CHECKING:  # imported lazily below: they pull in crypto and the database layer
    from iam.config import Registry, Settings
    from iam.tokens import key_rotation

DEFAULT_ACTIVATE_AFTER = 600


def _settings() -> Settings:
    from iam.config import load_settings

    try:
        return load_settings()
    except IamError as exc:
        fail(exc.message)


def _row(status: key_rotation.KeyStatus) -> dict[str, Any]:
    key = status.key
    return {"kid": key.kid, "alg": key.alg, "state": status.state,
            "created_at": key.created_at.isoformat(timespec="seconds"),
            "activate_at": key.activate_at.isoformat(timespec="seconds"),
            "retired_at": status.retired_at.isoformat(timespec="seconds")
            if status.retired_at else None,
            "prunable_at": status.prunable_at.isoformat(timespec="seconds")
            if status.prunable_at else None,
            "name": key.name}


@keys_app.command("list")
def list_keys(output: OutputOpt = Format.table) -> None:
    """Every published signing key: pending, active (signing now) or retired."""
    from iam.tokens import key_rotation

    settings = _settings()
    try:
        rows = [_row(s) for s in key_rotation.statuses(settings)]
    except IamError as exc:
        fail(exc.message)
    emit(rows, output, columns=["kid", "alg", "state", "activate_at", "prunable_at"])


@keys_app.command("rotate")
def rotate_keys(
    activate_after: Annotated[int, typer.Option(
        help="Seconds before the new key starts signing; restart the registries with the new "
             "bundle (iam registry-config) within that time")] = DEFAULT_ACTIVATE_AFTER,
    output: OutputOpt = Format.table,
) -> None:
    """Create a new key (published now, signing later) and prune expired retired keys."""
    from iam.tokens import key_rotation

    settings = _settings()
    try:
        key = key_rotation.rotate(settings, activate_after=activate_after)
        pruned = key_rotation.prune(settings)
    except IamError as exc:
        fail(exc.message)
    if output == Format.json:
        emit({"kid": key.kid, "alg": key.alg,
              "activate_at": key.activate_at.isoformat(timespec="seconds"),
              "pruned": [k.kid for k in pruned]}, output)
        return
    typer.echo(f"created signing key {key.kid} ({key.alg}); it signs from "
               f"{key.activate_at.isoformat(timespec='seconds')}")
    for old in pruned:
        typer.echo(f"pruned retired key {old.kid}: every token it signed has expired")
    typer.echo("Now run `iam registry-config` for each registry and restart it, before the "
               "new key activates; a running `iam serve` picks the key up by itself.")


def _stored_registry(settings: Settings, service: str) -> Registry:
    """The registry of that service as the database holds it (the list every server and
    command reads: nothing to repeat in the environment)."""
    from sqlalchemy.exc import SQLAlchemyError

    from iam.registry import registries
    from iam.store.db import make_engine, read_session

    engine = make_engine(settings.db_url)
    try:
        with read_session(engine) as session:
            try:
                return registries.as_registry(registries.get_registry(session,
                                                                      service=service))
            except IamError:
                known = ", ".join(r.service for r in registries.list_registries(session))
                fail(f"unknown registry {service!r}; the registries are: {known or '(none)'} "
                     "(add one with `iam registry-add`)")
    except SQLAlchemyError as exc:
        fail(f"cannot read the registries from the database ({type(exc).__name__}); "
             "run `iam init` first")
    finally:
        engine.dispose()


@app.command("registry-config")
def registry_config(
    service: Annotated[str, typer.Option(help="The registry's service name (token aud)")],
    realm: Annotated[str | None, typer.Option(
        help="URL of this service's token endpoint, as the registry's clients reach it "
             "[default: IAM_PUBLIC_URL/token]")] = None,
    out: Annotated[Path, typer.Option(help="Directory for the trust files")] = Path("."),
    output: OutputOpt = Format.table,
) -> None:
    """Write the certificate bundle and the JWKS, and print the `auth.token` section of the
    registry's config.yml for its trust mode (bundle: rootcertbundle, distribution 2.8 and
    3.x; jwks: jwks, distribution 3.x only). The registry is read from the database."""
    from iam.registry.trust_config import write_registry_config

    settings = _settings()
    registry = _stored_registry(settings, service)
    try:
        config = write_registry_config(
            settings, registry=registry, out_dir=out,
            realm=realm or f"{settings.public_url.rstrip('/')}/token")
    except IamError as exc:
        fail(exc.message)
    if output == Format.json:
        emit({"service": registry.service, "trust": registry.trust,
              "bundle": str(config.bundle), "jwks": str(config.jwks),
              "auth_section": config.auth_section}, output)
        return
    typer.echo(f"# wrote {config.bundle} and {config.jwks}", err=True)
    typer.echo(config.auth_section, nl=False)
