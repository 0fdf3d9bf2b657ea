"""image-list: the images of the caller's namespaces, a page at a time.

For each registry (of the asked region, or of every region) and each namespace of the
caller's account there (the asked one, or every one the caller may list in), the catalog is
read from the namespace (with the service's token: only that namespace's names are kept;
as many names at a time as the page may hold, since distribution walks its storage for each
name it answers), or one repository is named (`repository`: no catalog read), the
repositories the caller holds `container-registry.image.list` and `.image.pull` on are
kept, their tags read and each tag resolved to its image (with the caller's token).

A page holds whole repositories: tags are read in batches sized to what the page still has
room for, every repository read is shown whole (so a page may pass `limit` by the tags of
its last batch), and the next page starts after the last repository shown, so no
repository's tags are read twice. Repositories without tags are hidden, or shown as one row
without a tag with `include_untagged` (distribution cannot enumerate untagged manifests).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from iam.access.holdings import Holdings
from iam.config import Registry
from iam.errors import Forbidden, InvalidInput, NotFound
from iam.identity.authn import Principal
from iam.registry.content import catalog, images
from iam.registry.content.cache import MAX_AGE
from iam.registry.content.connection import Deadline
from iam.registry.content.distribution import CATALOG_PAGE
from iam.registry.content.parallel import each
from iam.registry.content.service import Reach, RegistryContent
from iam.registry.content.summaries import ImageSummary, summarize
from iam.registry.scopes import Scope

LIST = "container-registry.image.list"
PULL = "container-registry.image.pull"
MAX_CURSOR = 1024


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after `repository` of registry `service`."""

    service: str
    repository: str

    def encode(self) -> str:
        raw = json.dumps([self.service, self.repository], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            padded = value + "=" * (-len(value) % 4)
            service, repository = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(service, str) or not isinstance(repository, str):
                raise ValueError
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidInput("pagestart is not a cursor this service gave (use "
                               "next_pagestart of the previous page)",
                               target="pagestart") from None
        return cls(service, repository)


@dataclass(frozen=True)
class ImagePage:
    images: list[ImageSummary]
    next_pagestart: str | None
    #: registries left out, and why (no url)
    notes: list[str]


@dataclass(frozen=True)
class Query:
    namespace: str | None
    region: str | None
    include_untagged: bool
    limit: int
    cursor: Cursor | None
    #: only this repository (`namespace/path`): its tags, without reading the catalog
    repository: str | None = None
    #: a tag's digest the registry gave at most this many seconds ago is taken as it is
    max_age: float = 0.0

    @property
    def catalog_page(self) -> int:
        """Names asked of the catalog at a time: what the page may hold and one more (to
        know whether another page follows). Distribution walks its storage until it has
        that many, so a page of 20 asks for 21, not for a thousand."""
        return min(CATALOG_PAGE, self.limit + 1)


def _namespaces(holdings: Holdings, registry: Registry, query: Query) -> list[str]:
    names = holdings.namespaces_in(registry.region)
    if query.namespace is not None:
        names = [n for n in names if n == query.namespace]
    return [n for n in names if holdings.somewhere_in(registry.region, n, LIST)]


def _check_access(holdings: Holdings, registries: list[Registry], query: Query) -> None:
    """404 for a namespace the account does not hold; 403 when the caller may list in
    none of the namespaces asked about."""
    regions = {r.region for r in registries}
    held = [(region, name) for region, name in holdings.namespaces if region in regions
            and (query.namespace is None or name == query.namespace)]
    if query.namespace is not None and not held:
        raise NotFound(f"namespace {query.namespace} not found"
                       + (f" in region {query.region}" if query.region else ""),
                       target="namespace")
    if held and not any(holdings.somewhere_in(region, name, LIST) for region, name in held):
        where = f" on namespace {query.namespace}" if query.namespace else " on any namespace"
        raise Forbidden(LIST, f"missing action {LIST}{where}")


class _Page:
    """The images gathered for one page, and where it stopped."""

    def __init__(self, content: RegistryContent, holdings: Holdings, query: Query) -> None:
        self.content = content
        self.holdings = holdings
        self.query = query
        self.images: list[ImageSummary] = []
        self.last: Cursor | None = None
        self.read_repositories = 0
        self.read_tags = 0

    @property
    def full(self) -> bool:
        return len(self.images) >= self.query.limit

    def token(self, reach: Reach, repository: str) -> str:
        namespace, _, path = repository.partition("/")
        held = {(namespace, path): self.holdings.held(reach.registry.region, namespace, path)}
        return reach.credentials.as_caller(
            reach.registry, iam_id=self.holdings.principal.iam_id, held=held,
            scopes=[Scope("repository", repository, ("pull",))])

    def listable(self, registry: Registry, repository: str) -> bool:
        namespace, _, path = repository.partition("/")
        held = self.holdings.held(registry.region, namespace, path)
        return LIST in held and PULL in held

    def batch_size(self, concurrency: int) -> int:
        """As many repositories as the page has room for, by the tags seen so far."""
        room = self.query.limit - len(self.images)
        per_repository = max(1.0, self.read_tags / self.read_repositories
                             if self.read_repositories else 1.0)
        if not self.read_repositories:
            return max(1, min(concurrency, room))
        return max(1, min(concurrency, math.ceil(room / per_repository)))

    def read(self, reach: Reach, names: Iterator[str]) -> None:
        """Add whole repositories from `names` until the page is full or they run out."""
        while not self.full:
            batch = [n for _, n in zip(range(self.batch_size(reach.concurrency)), names,
                                       strict=False)]
            if not batch:
                return
            self.add(reach, batch)

    def add(self, reach: Reach, batch: list[str]) -> None:
        """Read the tags of a batch of repositories, then their images, all shown."""
        tokens = {name: self.token(reach, name) for name in batch}
        tag_lists = each(lambda name: sorted(reach.api.tags(name, token=tokens[name])),
                         batch, concurrency=reach.concurrency)
        self.read_repositories += len(batch)
        self.read_tags += sum(len(t) for t in tag_lists)
        wanted = [(name, tag) for name, tags in zip(batch, tag_lists, strict=True)
                  for tag in tags]
        found = each(lambda item: self.image(reach, item[0], item[1], tokens[item[0]]),
                     wanted, concurrency=reach.concurrency)
        by_repository: dict[str, list[ImageSummary]] = {}
        for summary in found:
            if summary is not None:
                by_repository.setdefault(summary.repository, []).append(summary)
        for name in batch:
            shown = by_repository.get(name, [])
            if not shown and self.query.include_untagged:
                shown = [ImageSummary(reach.name, reach.registry.region, name, None, None,
                                      None, None, None)]
            self.images += shown
            self.last = Cursor(reach.name, name)

    def image(self, reach: Reach, repository: str, tag: str, token: str
              ) -> ImageSummary | None:
        found = images.manifest(reach, repository, tag, token=token,
                                max_age=self.query.max_age)
        if found is None:
            return None  # deleted since its tag was listed
        return summarize(reach, repository, tag, found, token=token)


def _namespace_of(repository: str, namespace: str | None) -> str:
    """The namespace a `repository` filter names (its first component)."""
    first, slash, path = repository.partition("/")
    if not slash or not path or (namespace is not None and first != namespace):
        raise InvalidInput("repository is namespace/path, in the namespace asked for (if any)",
                           target="repository")
    return first


def list_images(content: RegistryContent, principal: Principal, *, namespace: str | None,
                region: str | None, include_untagged: bool, limit: int,
                pagestart: str | None, repository: str | None = None,
                max_age: float = 0.0) -> ImagePage:
    """A page of images; with `repository`, only that repository's (in each registry of
    the region), its tags read without the catalog; with `max_age` (at most
    `cache.MAX_AGE`), each tag's digest as the registry gave it that recently, if it did
    (each repository's tags are read again all the same)."""
    cursor = Cursor.decode(pagestart) if pagestart else None
    if repository is not None:
        namespace = _namespace_of(repository, namespace)
    if not 0 <= max_age <= MAX_AGE:
        raise InvalidInput(f"max_age is 0 to {MAX_AGE:g} seconds", target="max_age")
    query = Query(namespace, region, include_untagged, limit, cursor, repository, max_age)
    registries = [r for r in content.registries.all() if region is None or r.region == region]
    if region is not None and not registries:
        raise NotFound(f"no registry in region {region}", target="region")
    holdings = content.holdings(principal, region=region, namespace=namespace)
    _check_access(holdings, registries, query)
    notes = [f"registry {r.service} has no url: its images are not listed" for r in registries
             if not r.url]
    ordered = sorted((r for r in registries if r.url), key=lambda r: r.service)
    if cursor is not None:
        ordered = [r for r in ordered if r.service >= cursor.service]
    page = _Page(content, holdings, query)
    deadline = Deadline.after(content.settings.registry_deadline)
    plan = [(registry, name) for registry in ordered
            for name in _namespaces(holdings, registry, query)]
    for index, (registry, name) in enumerate(plan):
        after = cursor.repository if cursor and cursor.service == registry.service else ""
        start = after.split("/", 1)[0]
        if after and name < start:
            continue
        if query.repository is not None and after:
            continue  # the cursor's registry: its one repository was on the last page
        reach = content.reach(registry, deadline)
        listed: Iterable[str] = (
            [query.repository] if query.repository is not None else
            catalog.repositories(reach, name, after=after if name == start else "",
                                 page=query.catalog_page))
        names = (n for n in listed if page.listable(registry, n))
        page.read(reach, names)
        if page.full:
            more = index + 1 < len(plan) or next(names, None) is not None
            following = page.last.encode() if more and page.last else None
            return ImagePage(page.images, following, notes)
    return ImagePage(page.images, None, notes)
