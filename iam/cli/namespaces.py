"""Namespace commands, named like IBM's `ibmcloud cr namespace-add`, `namespace-list`,
`namespace-rm`, and the operator's reservations."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from iam.cli.app import app
from iam.cli.client import Api, Force, Format, OutputOpt, emit

NS_COLUMNS = ["name", "region", "created_at"]
LIST_COLUMNS = ["name", "region", "state", "repositories", "images", "size", "created_at"]
RESERVATION_COLUMNS = ["name", "region", "account_id", "deleted_at"]
Region = Annotated[str | None, typer.Option(
    "--region", "-r", help="The registry region [default: the region of the only registry; "
                           "required when the registries serve several]")]


def human_size(size: int | None) -> str | None:
    if size is None:
        return None
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return None  # unreachable


def _region(region: str | None) -> dict[str, str] | None:
    """The query: none when omitted, so that the server picks the only region or refuses."""
    return None if region is None else {"region": region}


@app.command("namespace-add")
def namespace_add(name: str, region: Region = None, output: OutputOpt = Format.table) -> None:
    """Create a namespace in a region a registry serves (names are unique per region across
    every account)."""
    emit(Api().put(f"/v1/namespaces/{name}", params=_region(region)), output, NS_COLUMNS)


@app.command("namespace-list")
def namespace_list(region: Annotated[str | None, typer.Option("--region", "-r")] = None,
                   counts: Annotated[bool, typer.Option(
                       "--counts/--no-counts",
                       help="Count repositories, images and size in the registries "
                            "(--no-counts: a fast list)")] = True,
                   output: OutputOpt = Format.table) -> None:
    """The namespaces of your account you hold any action on: region, state (`deleting`
    while its images are removed) and what the registries hold of it."""
    rows = Api().get_all("/v1/namespaces", region=region, counts=str(counts).lower())
    if output == Format.json:
        emit(rows, output)
        return
    shown = [{**r, "size": human_size(r.get("size"))} for r in rows]
    emit(shown, output, LIST_COLUMNS if counts else ["name", "region", "state", "created_at"])
    for row in rows:
        for note in (row.get("counts_note"), row.get("last_error")):
            if note:
                typer.echo(f"note: {row['name']} ({row['region'] or 'default region'}): "
                           f"{note}", err=True)


def _what_goes(found: dict[str, Any]) -> str:
    if found.get("repositories") is None:
        return f"an unknown number of images ({found.get('counts_note') or 'not counted'})"
    return (f"{found['repositories']} repositories, {found['images']} images "
            f"({human_size(found.get('size'))})")


def _report(body: dict[str, Any]) -> None:
    for sweep in body["registries"]:
        for image in sweep["deleted"]:
            tags = ", ".join(image["tags"]) or "untagged"
            typer.echo(f"Deleted {sweep['registry']}/{image['repository']}@{image['digest']} "
                       f"(tags: {tags})")
        if sweep.get("error"):
            typer.echo(f"Not done in {sweep['registry']}: {sweep['error']}")
    name, state = body["name"], body["state"]
    if state == "deleted":
        typer.echo(f"Namespace {name} deleted; its name is released")
    elif state == "reserved":
        typer.echo(f"Namespace {name} deleted; its images could not all be removed, so its "
                   "name stays reserved to your account")
    else:
        typer.echo(f"Namespace {name} is being deleted: push is refused, the removal goes on "
                   f"by itself, and the name is released after {body['release_after']} "
                   "(once no registry token granted before can push). `iam namespace-list` "
                   "shows its state.")


@app.command("namespace-rm")
def namespace_rm(name: str, region: Region = None, force: Force = False,
                 output: OutputOpt = Format.table) -> None:
    """Delete a namespace with its images: shows how many repositories and images will go
    and asks first (or -f). They are removed from every registry of the region; the name is
    released once that is done and every registry token granted before has expired."""
    api = Api()
    if not force:
        found = api.get(f"/v1/namespaces/{name}", region=region, counts="true")
        where = f" (region {region})" if region else ""
        typer.echo(f"Namespace {name}{where} holds {_what_goes(found)}; they will be "
                   "deleted from every registry of its region.", err=True)
        if not typer.confirm(f"Delete namespace {name}?", err=True):
            raise typer.Exit(1)
    body = api.call("DELETE", f"/v1/namespaces/{name}", params=_region(region)).json()
    if output == Format.json:
        emit(body, output)
        return
    _report(body)


@app.command("namespace-reservations")
def namespace_reservations(output: OutputOpt = Format.table) -> None:
    """Names of deleted namespaces kept reserved to their account (their images could not
    all be removed); every account's for the system operator, your account's otherwise."""
    emit(Api().get_all("/v1/namespace-reservations"), output, RESERVATION_COLUMNS)


@app.command("namespace-release")
def namespace_release(name: str, region: Region = None,
                      output: OutputOpt = Format.table) -> None:
    """Release a reserved name so any account may take it (system operator only): what its
    deleted namespace left in the registries of its region is removed first."""
    body = Api().call("DELETE", f"/v1/namespace-reservations/{name}",
                      params=_region(region)).json()
    released = body["state"] == "deleted"
    emit({"name": name, "region": region, "released": released, "state": body["state"],
          "release_after": None if released else body["release_after"]}, output,
         ["name", "region", "released", "state", "release_after"])
