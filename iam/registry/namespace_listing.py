"""namespace-list: the caller's namespaces, each with its state and, read from the
registries of its region through the content code's image listing (as the caller), how many
repositories and images it holds and their size.

A count needs `container-registry.image.list` (and pull) where it counts, like image-list;
a registry that cannot be reached, or a namespace the caller may not list, shows unknown
counts with a note, never an error for the whole list. Size is, for each distinct image
(manifest digest) of the namespace, its config and layers as its manifest declares them
(per platform for an index); layers that images share are counted in each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from iam.access import authz, namespace_removals, namespaces
from iam.access.namespaces import NamespaceRow
from iam.errors import Forbidden, IamError, NotFound
from iam.identity.authn import Principal
from iam.registry.content import listing
from iam.registry.content.service import RegistryContent
from iam.store.models import NamespaceRemoval
from iam.store.rows import Paged

PAGE = 1000
#: pages read per namespace at most (a million tags): beyond, the counts say so
MAX_PAGES = 1000


@dataclass(frozen=True)
class Counts:
    repositories: int | None = None
    images: int | None = None
    size: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class ListedNamespace:
    namespace: NamespaceRow
    counts: Counts
    #: while deleting: when its name may be released, and the last attempt's error
    release_after: datetime | None = None
    last_error: str | None = None


def count(content: RegistryContent, principal: Principal, *, region: str,
          namespace: str) -> Counts:
    """What the registries of `region` hold of `namespace`, as the caller may list it."""
    repositories: set[str] = set()
    sizes: dict[str, int] = {}
    notes: list[str] = []
    start: str | None = None
    try:
        for _ in range(MAX_PAGES):
            page = listing.list_images(content, principal, namespace=namespace, region=region,
                                       include_untagged=False, limit=PAGE, pagestart=start)
            for image in page.images:
                repositories.add(f"{image.registry}/{image.repository}")
                if image.digest is not None:
                    sizes[image.digest] = image.size or 0
            notes = page.notes
            start = page.next_pagestart
            if start is None:
                break
        else:
            notes.append(f"more than {MAX_PAGES * PAGE} tags: counted the first ones only")
    except NotFound:  # no registry serves the region: nothing can be held there
        return Counts(0, 0, 0, f"no registry in region {region or '(default)'}")
    except Forbidden as exc:
        return Counts(note=f"not counted: {exc.message}")
    except IamError as exc:  # a registry unreachable (503), slow (504), nonsense (502)
        return Counts(note=f"unknown: {exc.message}")
    return Counts(len(repositories), len(sizes), sum(sizes.values()),
                  "; ".join(notes) or None)


def _visible(content: RegistryContent, principal: Principal, *, region: str | None,
             name: str | None = None
             ) -> tuple[list[NamespaceRow], Mapping[tuple[str, str], NamespaceRemoval]]:
    """The account's namespaces (of `region`, of that `name`) the caller holds any action
    on, and the account's removals under way, in one short read."""
    with content.read() as session:
        rows = namespaces.list_namespaces(session, account_id=principal.account_id,
                                          region=region, name=name)
        rows = authz.visible_namespaces(session, content.roles, principal, rows)
        removals = namespace_removals.of_account(session, account_id=principal.account_id)
    return rows, removals


def list_namespaces(content: RegistryContent, principal: Principal, *, region: str | None,
                    counts: bool, limit: int, start: str | None) -> Paged[ListedNamespace]:
    """The account's namespaces the caller holds any action on (of `region`, or all), `limit`
    at a time in (region, name) order after the cursor `start`, with their counts when
    asked (for the page's namespaces only)."""
    rows, removals = _visible(content, principal, region=region)
    page = namespaces.page_namespaces(rows, limit=limit, start=start)
    listed = [_listed(content, principal, row, removals, counts=counts) for row in page.rows]
    return Paged(listed, page.total, page.next_start)


def _listed(content: RegistryContent, principal: Principal, row: NamespaceRow,
            removals: Mapping[tuple[str, str], NamespaceRemoval], *,
            counts: bool) -> ListedNamespace:
    found = count(content, principal, region=row.region,
                  namespace=row.name) if counts else Counts()
    removal = removals.get((row.region, row.name_key))
    return ListedNamespace(row, found, removal.release_after if removal else None,
                           (removal.last_error or None) if removal else None)


def show_namespace(content: RegistryContent, principal: Principal, *, region: str,
                   name: str, counts: bool) -> ListedNamespace:
    """One namespace of the caller's account, as `list_namespaces` shows it; NotFound when
    the account does not hold it or the caller holds nothing on it."""
    rows, removals = _visible(content, principal, region=region, name=name)
    if not rows:
        raise NotFound(f"namespace {name} not found", target="namespace")
    return _listed(content, principal, rows[0], removals, counts=counts)
