"""Images: the repositories and tags of a namespace (digest, size, created), inspecting one,
copying a tag, removing an image (after a page that names the other tags going with its
digest) and removing a repository (confirmed by typing its name). Each calls the API's
route function, which runs the content operation as the signed-in identity."""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from iam.api.content_schemas import ImageList, ImagePublic, TagBody
from iam.api.deps import RuntimeDep
from iam.api.routes import images as api
from iam.console import pages, permissions
from iam.console.session import FormDep, JournalDep, Visitor, VisitorDep
from iam.errors import IamError
from iam.registry.content.references import host_of, parse_image
from iam.runtime import Runtime

router = APIRouter(prefix="/console", include_in_schema=False)
#: Images per page (whole repositories: a page may pass it by the tags of its last one).
#: Each repository costs registry round trips (its tags, each tag's manifest), so the
#: console lists fewer than the API's default to stay well under 100 ms (BENCHMARKS.md).
PAGE = 10
#: The images page takes a tag's digest as the registry gave it up to this many seconds
#: ago (`max_age`): paging back and forth, or reloading, does not ask again for each tag.
#: The remove confirmation and the removal itself always ask the registry.
TAG_MEMO_SECONDS = 5.0
DELETE = "container-registry.image.delete"
PUSH = "container-registry.image.push"


def _ref(runtime: Runtime, image: ImagePublic, *, by_digest: bool = False) -> str:
    registry = runtime.registries.get(image.registry)
    host = host_of(registry) if registry is not None else ""
    name = f"{host}/{image.repository}" if host else image.repository
    if by_digest or image.tag is None:
        return f"{name}@{image.digest}"
    return f"{name}:{image.tag}"


def _repository_ref(runtime: Runtime, image: ImagePublic) -> str:
    return _ref(runtime, image).rsplit(":", 1)[0].split("@", 1)[0]


async def _list_page(request: Request, visitor: Visitor, runtime: Runtime, *, namespace: str,
                     region: str, pagestart: str | None = None, before: pages.Before = None,
                     problems: pages.Problems | None = None,
                     form: dict[str, str] | None = None) -> HTMLResponse:
    regions = sorted({r.region for r in runtime.registries.all()})
    if namespace and not region and len(regions) == 1:
        region = regions[0]
    found: ImageList | None = None
    if namespace:
        try:
            found = await api.list_images(request, visitor.principal, runtime, limit=PAGE,
                                          namespace=namespace, region=region or None,
                                          include_untagged=False, pagestart=pagestart,
                                          max_age=TAG_MEMO_SECONDS)
        except IamError as exc:
            problems = pages.problems_of(exc)
    repositories: dict[str, list[ImagePublic]] = defaultdict(list)
    for image in found.data if found else []:
        repositories[image.repository].append(image)
    scope = {"namespace": namespace, "region": region} if namespace else None
    may = permissions.allowed(runtime, visitor.principal, DELETE, PUSH, resource=scope)
    pager = pages.Pager.of("/console/images", pagestart=pagestart, before=before,
                           next_start=found.next_pagestart if found else None,
                           namespace=namespace, region=region)
    return pages.render(
        request, "images.html", visitor, regions=regions, namespace=namespace,
        region=region, found=found, repositories=dict(repositories), may=may,
        ref=lambda image, by_digest=False: _ref(runtime, image, by_digest=by_digest),
        repository_ref=lambda image: _repository_ref(runtime, image), pager=pager,
        problems=problems, form=form)


@router.get("/images")
async def read_images(request: Request, visitor: VisitorDep, runtime: RuntimeDep,
                      namespace: str = "", region: str = "", pagestart: str | None = None,
                      before: pages.Before = None) -> HTMLResponse:
    """A namespace's repositories and tags, a page of whole repositories at a time."""
    return await _list_page(request, visitor, runtime, namespace=namespace, region=region,
                            pagestart=pagestart or None, before=before)


@router.get("/images/inspect")
async def read_image(request: Request, visitor: VisitorDep, runtime: RuntimeDep,
                     image: str = "") -> HTMLResponse:
    """Platforms, layers, labels and history of one image."""
    try:
        found = await api.inspect_image(request, visitor.principal, runtime, image=image[:512])
    except IamError as exc:
        return pages.not_available(request, exc, visitor)
    return pages.render(request, "image_inspect.html", visitor, found=found)


def _back(form: FormDep) -> str:
    return "/console/images?" + urlencode({"namespace": form.get("namespace"),
                                           "region": form.get("region")})


@router.post("/images/tags", name="tag_image")
async def tag_image(request: Request, visitor: VisitorDep, form: FormDep, runtime: RuntimeDep,
                    journal: JournalDep) -> Response:
    """Copy a tag within its registry (the same digest; no layer uploaded)."""
    try:
        await api.tag_image(request, TagBody(source=form.get("source"),
                                             target=form.get("target")),
                            visitor.principal, runtime, journal)
    except (ValidationError, IamError) as exc:
        return await _list_page(request, visitor, runtime, namespace=form.get("namespace"),
                                region=form.get("region"), form=form.values(),
                                problems=pages.refused(request, exc, ("target",)))
    return pages.see_other(_back(form))


@router.get("/images/remove")
async def read_image_removal(request: Request, visitor: VisitorDep, runtime: RuntimeDep,
                             image: str = "", namespace: str = "",
                             region: str = "") -> HTMLResponse:
    """What removing the image takes with it: its digest, and every tag of its repository
    pointing there (that one repository listed again, not the page the link was on)."""
    try:
        name = parse_image(image[:512], runtime.registries.all())
        found = await api.list_images(request, visitor.principal, runtime, limit=1,
                                      namespace=None, region=name.registry.region,
                                      include_untagged=False, pagestart=None,
                                      repository=name.repository)
    except IamError as exc:
        return pages.not_available(request, exc, visitor)
    tags = [c for c in found.data if c.registry == name.registry.service]
    digest = name.digest or next((c.digest or "" for c in tags if c.tag == name.reference), "")
    going = sorted(_ref(runtime, c) for c in tags if digest and c.digest == digest)
    return pages.render(request, "image_remove.html", visitor, image=image, digest=digest,
                        going=going, namespace=namespace, region=region)


@router.post("/images/remove", name="remove_images")
async def remove_image(request: Request, visitor: VisitorDep, form: FormDep,
                       runtime: RuntimeDep, journal: JournalDep) -> Response:
    """Delete the image's digest; the answer names every tag that went with it."""
    try:
        removed = await api.remove_images(request, visitor.principal, runtime, journal,
                                          image=[form.get("image")])
    except IamError as exc:
        return pages.render(request, "image_remove.html", visitor, image=form.get("image"),
                            digest="", going=[], namespace=form.get("namespace"),
                            region=form.get("region"), problems=pages.refused(request, exc))
    return pages.render(request, "image_removed.html", visitor, removed=removed,
                        back=_back(form))


@router.get("/repositories/remove")
def read_repository_removal(request: Request, visitor: VisitorDep, repository: str = "",
                            namespace: str = "", region: str = "") -> HTMLResponse:
    return pages.render(request, "repository_remove.html", visitor, repository=repository,
                        namespace=namespace, region=region)


@router.post("/repositories/remove", name="remove_repository")
async def remove_repository(request: Request, visitor: VisitorDep, form: FormDep,
                            runtime: RuntimeDep, journal: JournalDep) -> Response:
    """Delete every manifest of the repository, once its name is typed."""
    repository = form.get("repository")
    namespace, region = form.get("namespace"), form.get("region")
    if form.get("confirm") != repository.split("/", 1)[-1] and form.get("confirm") != repository:
        problems = pages.Problems(fields={"confirm": "type the repository's name to confirm"})
        pages.note_refusal_of(request, problems)
        return pages.render(request, "repository_remove.html", visitor, problems=problems,
                            repository=repository, namespace=namespace, region=region)
    try:
        await api.remove_repository(request, visitor.principal, runtime, journal,
                                    repository=repository)
    except IamError as exc:
        return pages.render(request, "repository_remove.html", visitor,
                            problems=pages.refused(request, exc), repository=repository,
                            namespace=namespace, region=region)
    return pages.see_other(_back(form))
