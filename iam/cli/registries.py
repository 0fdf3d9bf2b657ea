"""`iam registry-add`, `registries`, `registry`, `registry-update`, `registry-rm`: the
registries this service issues tokens for, through the server (`/v1/registries`).

Only the system operator changes them; anyone logged in lists them (the CA file's path is
shown to the operator only). Every server replica and `iam registry-config` read the same
list from the database: nothing to repeat in the environment of each command.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from iam.cli.app import app
from iam.cli.client import Api, Format, OutputOpt, emit, fail

COLUMNS = ["service", "region", "url", "trust", "tls_verify", "delete_enabled"]
DETAIL_COLUMNS = [*COLUMNS, "ca_file", "created_at", "modified_at"]
Force = Annotated[bool, typer.Option("--force", "-f", help="Do not ask for confirmation")]


class Trust(StrEnum):
    bundle = "bundle"
    jwks = "jwks"


TRUST_HELP = ("How the registry checks our tokens: bundle (x5c against rootcertbundle: "
              "distribution 2.8 and 3.x) or jwks (kid = JWK thumbprint, no x5c: "
              "distribution 3.x with auth.token.jwks)")
Region = Annotated[str | None, typer.Option(
    help="Region the registry serves (what region-scoped policies and namespaces match)")]
Url = Annotated[str | None, typer.Option(
    help="Where this service reaches the registry's API: http(s)://host[:port]")]
CaFile = Annotated[Path | None, typer.Option(
    help="PEM CA file for the registry's TLS, as a path on the server's machine (a relative "
         "path is made absolute from here)")]


def _path(name: str) -> str:
    return f"/v1/registries/{quote(name, safe='')}"


def _absolute(ca_file: Path | None) -> str | None:
    return str(ca_file.expanduser().absolute()) if ca_file is not None else None


def _show(body: Any, output: Format) -> None:
    emit(body, output, DETAIL_COLUMNS if "ca_file" in body else COLUMNS)


@app.command("registry-add")
def registry_add(
    name: Annotated[str, typer.Argument(help="The registry's service name (its "
                                             "auth.token.service, the tokens' aud)")],
    region: Annotated[str, typer.Option(
        help="Region the registry serves (what region-scoped policies and namespaces "
             "match); \"\" for the default region")],
    url: Annotated[str, typer.Option(
        help="Where this service reaches the registry's API: http(s)://host[:port]; \"\" if "
             "it has none (tokens only, no content operations)")],
    ca_file: CaFile = None,
    tls_verify: Annotated[bool, typer.Option(
        "--tls-verify/--no-tls-verify", help="Verify the registry's TLS certificate")] = True,
    delete: Annotated[bool, typer.Option(
        "--delete/--no-delete", help="Whether the registry allows deletes")] = True,
    trust: Annotated[Trust, typer.Option(help=TRUST_HELP)] = Trust.bundle,
    output: OutputOpt = Format.table,
) -> None:
    """Add a registry (system operator only); then configure it with `iam registry-config`."""
    body = Api().post("/v1/registries", {
        "service": name, "region": region, "url": url,
        "ca_file": _absolute(ca_file), "tls_verify": tls_verify, "delete_enabled": delete,
        "trust": trust.value})
    _show(body, output)


@app.command("registries")
def registries(output: OutputOpt = Format.table) -> None:
    """Every registry this service issues tokens for."""
    rows = Api().get_all("/v1/registries")
    emit(rows, output, COLUMNS)


@app.command("registry")
def registry(name: str, output: OutputOpt = Format.table) -> None:
    """One registry's settings."""
    _show(Api().get(_path(name)), output)


@app.command("registry-update")
def registry_update(
    name: str,
    region: Region = None,
    url: Url = None,
    ca_file: CaFile = None,
    no_ca_file: Annotated[bool, typer.Option(
        "--no-ca-file", help="Remove the CA file (use the system's CAs)")] = False,
    tls_verify: Annotated[bool | None, typer.Option(
        "--tls-verify/--no-tls-verify", help="Verify the registry's TLS certificate")] = None,
    delete: Annotated[bool | None, typer.Option(
        "--delete/--no-delete", help="Whether the registry allows deletes")] = None,
    trust: Annotated[Trust | None, typer.Option(help=TRUST_HELP)] = None,
    output: OutputOpt = Format.table,
) -> None:
    """Change a registry's settings (system operator only); what is not given stays. The
    region cannot change while it has namespaces."""
    if ca_file is not None and no_ca_file:
        fail("give --ca-file or --no-ca-file, not both")
    changes: dict[str, Any] = {
        key: value for key, value in (("region", region), ("url", url),
                                      ("tls_verify", tls_verify), ("delete_enabled", delete),
                                      ("trust", trust.value if trust else None))
        if value is not None}
    if ca_file is not None or no_ca_file:
        changes["ca_file"] = _absolute(ca_file)
    if not changes:
        fail("nothing to change: give at least one option (see --help)")
    api = Api()
    current = api.get(_path(name))
    _show(api.patch(_path(name), changes, if_match=current["entity_tag"]), output)


@app.command("registry-rm")
def registry_rm(name: str, force: Force = False, output: OutputOpt = Format.table) -> None:
    """Stop issuing tokens for a registry (system operator only). Refused for the last
    registry, and for the last of a region that has namespaces."""
    if not force and not typer.confirm(f"Remove registry {name}? Its clients get no more "
                                       "tokens"):
        raise typer.Exit(1)
    Api().delete(_path(name))
    if output == Format.json:
        emit({"service": name, "removed": True}, output)
        return
    typer.echo(f"Registry {name} removed; this service issues it no more tokens")
