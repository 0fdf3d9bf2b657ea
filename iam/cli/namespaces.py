"""Namespace commands, named like IBM's `ibmcloud cr namespace-add`, `namespace-list`,
`namespace-rm`; and the reservations of deleted names."""

from __future__ import annotations

from typing import Annotated

import typer

from iam.cli.app import app
from iam.cli.client import Api, Force, Format, OutputOpt, confirm_delete, done, emit

NS_COLUMNS = ["name", "region", "created_at"]
RESERVATION_COLUMNS = ["name", "region", "account_id", "deleted_at"]
Region = Annotated[str | None, typer.Option(
    "--region", "-r", help="The registry region [default: the region of the only registry; "
                           "required when the registries serve several]")]


def _region(region: str | None) -> dict[str, str] | None:
    """The query: none when omitted, so that the server picks the only region or refuses."""
    return None if region is None else {"region": region}


@app.command("namespace-add")
def namespace_add(name: str, region: Region = None, output: OutputOpt = Format.table) -> None:
    """Create a namespace in a region a registry serves (names are unique per region across
    every account)."""
    emit(Api().put(f"/v1/namespaces/{name}", params=_region(region)), output, NS_COLUMNS)


@app.command("namespace-list")
def namespace_list(region: Annotated[str | None, typer.Option(
        "--region", "-r", help="Only this region's [default: every region's]")] = None,
                   output: OutputOpt = Format.table) -> None:
    """The namespaces of your account you hold any action on."""
    emit(Api().get("/v1/namespaces", region=region)["data"], output, NS_COLUMNS)


@app.command("namespace-rm")
def namespace_rm(name: str, region: Region = None, force: Force = False,
                 output: OutputOpt = Format.table) -> None:
    """Delete a namespace."""
    confirm_delete(f"namespace {name}", force)
    Api().delete(f"/v1/namespaces/{name}", params=_region(region))
    done({"name": name, "region": region, "deleted": True}, output,
         f"Namespace {name} deleted; its name stays reserved to your account")


@app.command("namespace-reservations")
def namespace_reservations(output: OutputOpt = Format.table) -> None:
    """Names of deleted namespaces, reserved to their account (every account's for the
    system operator, your account's otherwise)."""
    emit(Api().get_all("/v1/namespace-reservations"), output, RESERVATION_COLUMNS)


@app.command("namespace-release")
def namespace_release(name: str, region: Region = None,
                      output: OutputOpt = Format.table) -> None:
    """Release a deleted namespace's reserved name so any account may take it (system
    operator only)."""
    Api().delete(f"/v1/namespace-reservations/{name}", params=_region(region))
    emit({"name": name, "region": region, "released": True}, output,
         ["name", "region", "released"])
