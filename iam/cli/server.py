"""Commands that work on the local data directory: `init`, `serve`, `account-create --local`."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iam.cli.app import app
from iam.cli.client import Format, OutputOpt, emit, fail, iam_command
from iam.errors import ConfigurationError, IamError
from iam.store.files import write_private_file

if TYPE_CHECKING:
    from iam.config import Settings

# The database, migration and crypto modules are imported inside the commands that use them:
# every other command only talks HTTP, and should start in a fraction of a second.


def _settings() -> Settings:
    from iam.config import load_settings

    try:
        return load_settings()
    except ConfigurationError as exc:
        fail(exc.message)


@app.command("init")
def init(
    apikey_file: Annotated[Path | None, typer.Option(
        help="Write the owner's API key to this file (mode 0600) instead of printing it")] = None,
    account_name: Annotated[str, typer.Option(help="Name of the first account")] = "default",
    output: OutputOpt = Format.table,
) -> None:
    """Create the data directory, schema, secrets, signing key and first account (idempotent)."""
    from iam import bootstrap

    settings = _settings()
    try:
        result = bootstrap.initialize(settings, account_name=account_name)
    except IamError as exc:
        fail(exc.message)
    new = result.new_account
    if apikey_file is not None and new is not None:
        write_private_file(apikey_file, (new.apikey + "\n").encode())
    if output == Format.json:
        body = {"created": result.created, "account_id": result.account_id,
                "data_dir": str(settings.data_dir)}
        if new is not None:
            body["owner_iam_id"] = new.owner.iam_id
            if apikey_file is None:
                body["apikey"] = new.apikey
        emit(body, output)
        return
    for message in result.messages:
        typer.echo(message)
    if new is None:
        typer.echo(f"Already initialised (account {result.account_id} in {settings.data_dir}); "
                   "nothing changed.")
        return
    iam = iam_command()
    if apikey_file is not None:
        typer.echo(f"\nOwner API key written to {apikey_file} (mode 0600, its only copy)\n")
        login = f"{iam} login --apikey @{apikey_file} --endpoint {settings.public_url}"
    else:
        typer.echo(f"\nOwner API key (shown once, store it now): {new.apikey}\n")
        login = f"{iam} login --apikey - --endpoint {settings.public_url}   # paste the key"
    typer.echo("Next steps:")
    typer.echo(f"  1. Serve (stays in the foreground, Ctrl-C stops it):  {iam} serve")
    typer.echo(f"  2. In a second terminal, log the CLI in:  {login}")
    typer.echo(f"  3. Then: {iam} service-id-create ci-robot, and README.md's "
               "\"Connect your registry\"")
    typer.echo(f"  Or, once it serves, open the web console: {settings.public_url}/console "
               "(sign in with the owner's API key)")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(envvar="IAM_HOST", help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="IAM_PORT", help="Port to bind")] = 8080,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="Worker processes, each with its own listening socket "
                            "(SO_REUSEPORT: the kernel spreads connections over them)")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request")] = False,
    tls_cert: Annotated[Path | None, typer.Option(
        help="Serve HTTPS with this PEM certificate (chain); with --tls-key "
             "[env: IAM_TLS_CERT]")] = None,
    tls_key: Annotated[Path | None, typer.Option(
        help="The certificate's unencrypted PEM private key, mode 0600 "
             "[env: IAM_TLS_KEY]")] = None,
    metrics_port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Serve /metrics on this port (same host) and only there "
                               "[env: IAM_METRICS_PORT]")] = None,
    output: OutputOpt = Format.table,
) -> None:
    """Run the service in the foreground (migrates the database to the latest schema first;
    Ctrl-C or SIGTERM stops it, SIGHUP replaces its workers one by one). With --output json,
    where it serves is one JSON line on standard output; the logs go to standard error."""
    import uvicorn

    from iam import tls
    from iam.cli.workers import AddressInUse, Workers, free_port_of, listener
    from iam.metrics import exposition

    # The workers read their settings from the environment: options go there first.
    for name, value in (("TLS_CERT", tls_cert), ("TLS_KEY", tls_key),
                        ("METRICS_PORT", metrics_port)):
        if value is not None:
            os.environ[f"IAM_{name}"] = str(value)
    settings = _settings()
    if settings.metrics_enabled and workers > 1:
        exposition.prepare_multiprocess(settings.data_dir)  # before prometheus_client loads
    else:
        exposition.single_process()
    try:
        tls.check_pair(settings.tls_cert, settings.tls_key)
        _check_database_and_files(settings)
    except IamError as exc:
        fail(exc.message)
    scheme = "https" if settings.tls_cert else "http"
    database = settings.db_url.split("://")[0]
    metrics_url = (f"{scheme}://{host}:{settings.metrics_port}/metrics"
                   if settings.metrics_port is not None else None)
    if output == Format.json:
        typer.echo(json.dumps({"url": f"{scheme}://{host}:{port}", "database": database,
                               "workers": workers, "metrics": metrics_url}))
    else:
        typer.echo(f"registry-iam serving on {scheme}://{host}:{port} (database {database}, "
                   f"{workers} worker(s)); Ctrl-C stops it", err=True)
        if metrics_url:
            typer.echo(f"metrics on {metrics_url}", err=True)
    if scheme == "https" and settings.public_url.startswith("http://"):
        typer.echo(f"warning: IAM_PUBLIC_URL is {settings.public_url}: clients are sent there "
                   "for tokens (the registry's realm); set it to the https:// address",
                   err=True)
    config = uvicorn.Config("iam.console.app:create_app", factory=True, host=host, port=port,
                            workers=workers, access_log=access_log,
                            log_level=settings.log_level, timeout_graceful_shutdown=20,
                            server_header=False, log_config=_log_config(settings.log_level),
                            ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key,
                            proxy_headers=False)  # iam.client_address decides whom to believe
    ports = [port] if settings.metrics_port is None else [port, settings.metrics_port]
    try:
        if workers == 1:
            sockets = [listener(host, p, config.backlog, reuse_port=False) for p in ports]
        else:
            ports = [free_port_of(host, p) for p in ports]
    except AddressInUse as exc:
        fail(f"cannot listen: {exc.strerror}")
    except OSError as exc:
        fail(f"cannot listen on {host}: {exc.strerror or exc}")
    if workers == 1:
        server = uvicorn.Server(config)
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=sockets)
        if not server.started:
            raise typer.Exit(3)  # as uvicorn.run: the app could not start
        return

    def bind() -> list[socket.socket]:
        return [listener(host, p, config.backlog, reuse_port=True) for p in ports]

    code = Workers(config, workers, bind, on_exit=exposition.worker_exited).run()
    if code:
        raise typer.Exit(code)


def _check_database_and_files(settings: Settings) -> None:
    """Migrate, then refuse bad registries, keys, secrets and roles before anything
    listens."""
    from iam.registry.registries import check_configured
    from iam.runtime import Runtime
    from iam.store.db import migrate

    migrate(settings.db_url)
    check_configured(settings.registries)  # the registries the workers seed
    Runtime.start(settings).close()


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus our `iam.*` loggers (audit lines, warnings) on its handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["iam"] = {"handlers": ["default"], "level": level.upper(),
                                "propagate": False}
    # Audit events are JSON lines as they are, for log shippers: no level prefix, no colour.
    config["formatters"]["audit"] = {"format": "%(message)s"}
    config["handlers"]["audit"] = {"formatter": "audit", "class": "logging.StreamHandler",
                                   "stream": "ext://sys.stderr"}
    config["loggers"]["iam.audit"] = {"handlers": ["audit"], "level": level.upper(),
                                      "propagate": False}
    return config


def create_account_locally(name: str) -> dict[str, str]:
    from iam.identity import accounts
    from iam.runtime import Runtime
    from iam.store.db import make_engine, write_session
    from iam.store.journal import ChangeJournal

    settings = _settings()
    try:
        runtime = Runtime.start(settings)
    except IamError as exc:
        fail(exc.message)
    try:
        engine = make_engine(settings.db_url)
        with write_session(engine) as session:
            # Like `iam init`, local and before any server: left out of the trail.
            new = accounts.create_account(session, journal=ChangeJournal(),
                                          secret=runtime.secret, name=name)
        engine.dispose()
    except IamError as exc:
        fail(exc.message)
    finally:
        runtime.close()
    return {"id": new.account.id, "name": new.account.name, "owner_iam_id": new.owner.iam_id,
            "owner_service_id": new.owner.id, "apikey": new.apikey}


def print_new_account(body: dict[str, str], output: Format) -> None:
    if output == Format.json:
        typer.echo(json.dumps(body, indent=2))
        return
    typer.echo(f"Account {body['id']} ({body['name']}) created; owner {body['owner_iam_id']}")
    typer.echo(f"Owner API key (shown once, store it now): {body['apikey']}")
