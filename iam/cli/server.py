"""Commands that work on the local data directory: `init`, `serve`, `account-create --local`."""

from __future__ import annotations

import copy
import json
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


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(envvar="IAM_HOST", help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="IAM_PORT", help="Port to bind")] = 8080,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request")] = False,
    output: OutputOpt = Format.table,
) -> None:
    """Run the service in the foreground (migrates the database to the latest schema first;
    Ctrl-C or SIGTERM stops it). With --output json, where it serves is one JSON line on
    standard output; the logs go to standard error."""
    import uvicorn

    from iam.registry.registries import check_configured
    from iam.runtime import Runtime
    from iam.store.db import migrate

    settings = _settings()
    try:
        migrate(settings.db_url)
        check_configured(settings.registries)  # the registries the workers seed
        Runtime.start(settings).close()  # refuse bad keys, secrets, roles before serving
    except IamError as exc:
        fail(exc.message)
    database = settings.db_url.split("://")[0]
    if output == Format.json:
        typer.echo(json.dumps({"url": f"http://{host}:{port}", "database": database,
                               "workers": workers}))
    else:
        typer.echo(f"registry-iam serving on http://{host}:{port} (database {database}, "
                   f"{workers} worker(s)); Ctrl-C stops it", err=True)
    config = uvicorn.Config("iam.console.app:create_app", factory=True, host=host, port=port,
                            workers=workers, access_log=access_log,
                            log_level=settings.log_level, timeout_graceful_shutdown=20,
                            server_header=False, log_config=_log_config(settings.log_level),
                            proxy_headers=False)  # iam.client_address decides whom to believe
    from uvicorn.supervisors import Multiprocess

    server = uvicorn.Server(config)
    try:
        if workers == 1:
            server.run()
        else:
            Multiprocess(config, sockets=[tcp_listener(config.bind_socket())]).run()
    except KeyboardInterrupt:
        pass
    if workers == 1 and not server.started:
        raise typer.Exit(3)  # as uvicorn.run: the app could not start


def tcp_listener(sock: socket.socket) -> socket.socket:
    """The same listening socket, declared as TCP (uvicorn#3149).

    uvicorn binds the socket it hands to `--workers` processes with `proto` 0; accepted
    connections inherit it, and asyncio sets TCP_NODELAY only on `IPPROTO_TCP` sockets. Left
    so, Nagle's algorithm meets the client's delayed ACK and every keep-alive request after
    the first waits ~40 ms (measured: 44 ms per token at any load with 2 workers).
    """
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.set_inheritable(True)
    return tcp


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
