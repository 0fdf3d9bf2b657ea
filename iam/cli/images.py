"""Registry content, named like IBM's `ibmcloud cr`: image-list, image-inspect, image-tag,
image-rm, image-untag, repository-rm.

IMAGE is written as for docker: `<registry host>/<namespace>/<repository>:<tag>` (or
`@<digest>`), the host being the one of the registry's url; `<namespace>/<repository>:<tag>`
alone when the service knows only one registry. No tag means `latest`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from iam.cli.app import app
from iam.cli.client import Api, Format, OutputOpt, emit

#: Content operations wait on registries: longer than an admin call.
TIMEOUT = 300
IMAGE_HELP = ("[registry host/]namespace/repository[:tag|@digest] (no tag: latest; the host "
              "may be left out when the service knows one registry)")
Image = Annotated[str, typer.Argument(help=IMAGE_HELP)]
Force = Annotated[bool, typer.Option("--force", "-f", help="Do not ask for confirmation")]
LIST_COLUMNS = ["repository", "tag", "digest", "created", "size", "platforms", "registry"]
PLATFORM_COLUMNS = ["os", "architecture", "variant", "digest", "size", "created"]


def _short(digest: str | None) -> str | None:
    return digest.split(":", 1)[-1][:12] if digest else None


def _size(size: int | None) -> str | None:
    if size is None:
        return None
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def _row(image: dict[str, Any]) -> dict[str, Any]:
    platforms = [f"{p['os']}/{p['architecture']}" for p in image.get("platforms") or []]
    return {**image, "digest": _short(image.get("digest")), "size": _size(image.get("size")),
            "platforms": platforms or None}


@app.command("image-list")
def image_list(
    namespace: Annotated[str | None, typer.Option(help="Only this namespace")] = None,
    region: Annotated[str | None, typer.Option(help="Only the registries of this region")] = None,
    include_untagged: Annotated[bool, typer.Option(
        "--include-untagged", help="Also repositories without tags (one row each)")] = False,
    repository: Annotated[str | None, typer.Option(
        help="Only this repository (namespace/path): its tags, without reading the catalog")
    ] = None,
    output: OutputOpt = Format.table,
) -> None:
    """List the images of your namespaces (IBM: ibmcloud cr image-list)."""
    api = Api()
    images: list[dict[str, Any]] = []
    notes: list[str] = []
    start = None
    while True:
        page = api.call("GET", "/v1/images", timeout=TIMEOUT, params={
            "namespace": namespace, "region": region, "limit": 1000, "pagestart": start,
            "repository": repository,
            "include_untagged": "true" if include_untagged else None}).json()
        images += page["data"]
        notes += [n for n in page.get("notes", []) if n not in notes]
        start = page.get("next_pagestart")
        if not start:
            break
    if output == Format.json:
        emit(images, output)
        return
    emit([_row(i) for i in images], output, LIST_COLUMNS)
    for note in notes:
        typer.echo(f"Note: {note}", err=True)


@app.command("image-inspect")
def image_inspect(image: Image, output: OutputOpt = Format.table) -> None:
    """Show an image's type, platforms, layers and config (IBM: ibmcloud cr image-inspect)."""
    found = Api().call("GET", "/v1/images/inspect", params={"image": image},
                       timeout=TIMEOUT).json()
    if output == Format.json:
        emit(found, output)
        return
    emit({k: v for k, v in found.items() if k != "platforms"}, output,
         ["image", "registry", "repository", "tag", "digest", "media_type", "size"])
    typer.echo("")
    emit([{**p, **{k: p["config"].get(k) for k in ("created",)}}
          for p in found["platforms"]], output, PLATFORM_COLUMNS)
    for platform in found["platforms"]:
        config = platform["config"]
        typer.echo(f"\n{platform['os']}/{platform['architecture']}: "
                   f"{len(platform['layers'])} layers")
        for key in ("labels", "env", "exposed_ports", "entrypoint", "cmd", "working_dir",
                    "user"):
            if config.get(key):
                typer.echo(f"  {key}: {config[key]}")


@app.command("image-tag")
def image_tag(
    source: Annotated[str, typer.Argument(help="the existing image: " + IMAGE_HELP)],
    target: Annotated[str, typer.Argument(help="the new name, [host/]namespace/repo:tag, "
                                               "in the same registry")],
    output: OutputOpt = Format.table,
) -> None:
    """Give an existing image a new name in the same registry: blobs mounted, same digest
    (IBM: ibmcloud cr image-tag)."""
    tagged = Api().call("POST", "/v1/images/tags", json_body={"source": source,
                                                                "target": target},
                        timeout=TIMEOUT).json()
    emit(tagged, output, ["source", "target", "digest", "media_type", "mounted"])


@app.command("image-rm")
def image_rm(
    images: Annotated[list[str], typer.Argument(help=IMAGE_HELP)],
    output: OutputOpt = Format.table,
) -> None:
    """Delete images; every other tag of the same digest goes too, and is named
    (IBM: ibmcloud cr image-rm)."""
    removed = Api().call("DELETE", "/v1/images", params={"image": images},
                         timeout=TIMEOUT).json()["data"]
    if output == Format.json:
        emit(removed, output)
        return
    for entry in removed:
        typer.echo(f"Deleted {entry['image']} ({entry['digest']})")
        if entry["other_tags"]:
            typer.echo(f"  with the other tags of that digest: "
                       f"{', '.join(entry['other_tags'])}")
    typer.echo("OK")


@app.command("image-untag")
def image_untag(image: Image, output: OutputOpt = Format.table) -> None:
    """Remove one tag, keeping the image and its other tags, where the registry can
    (distribution 2.8 cannot: refused) (IBM: ibmcloud cr image-untag)."""
    untagged = Api().call("DELETE", "/v1/images/tags", params={"image": image},
                          timeout=TIMEOUT).json()
    emit(untagged, output, ["image", "repository", "tag", "digest"])


@app.command("repository-rm")
def repository_rm(
    repository: Annotated[str, typer.Argument(help="[registry host/]namespace/repository")],
    force: Force = False,
    output: OutputOpt = Format.table,
) -> None:
    """Delete every image of a repository; it is then hidden from image-list
    (IBM: the console's repository deletion)."""
    if not force and not typer.confirm(f"Delete every image of repository {repository}?"):
        raise typer.Exit(1)
    removal = Api().call("DELETE", "/v1/repositories", params={"repository": repository},
                         timeout=TIMEOUT).json()
    if output == Format.json:
        emit(removal, output)
        return
    for entry in removal["removed"]:
        typer.echo(f"Deleted {entry['digest']} (tags: {', '.join(entry['tags']) or '-'})")
    if removal["remaining_tags"]:
        typer.echo(f"Still tagged (pushed meanwhile): {', '.join(removal['remaining_tags'])}")
    typer.echo("OK")
