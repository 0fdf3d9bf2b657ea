"""The repositories of a namespace, from the registry's catalog.

The catalog lists every account's repositories, so it is read with a token for the service
itself (`Credentials.for_catalog`) and only the names under the asked namespace ever leave
this module. Distribution orders the catalog by path components (`team-a/x` < `team-a/x/y`
< `team-a-b/x`), so a namespace's repositories follow one another right after `last=<ns>`.
"""

from __future__ import annotations

from collections.abc import Iterator

from iam.registry.content.distribution import CATALOG_PAGE
from iam.registry.content.service import Reach


def repositories(reach: Reach, namespace: str, *, after: str = "",
                 page: int = CATALOG_PAGE) -> Iterator[str]:
    """Every repository of `namespace` in catalog order (after the repository `after`, if
    given, which must be in the namespace), reading the catalog a page at a time."""
    token = reach.credentials.for_catalog(reach.registry)
    prefix = f"{namespace}/"
    last = after or namespace
    while True:
        names, more = reach.api.catalog(token=token, last=last, n=page)
        for name in names:
            if not name.startswith(prefix):
                return  # past the namespace
            yield name
        if not more or not names:
            return
        last = names[-1]
