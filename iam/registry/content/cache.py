"""What never changes once addressed by digest: manifests and image configs, kept in memory.

A manifest or a config fetched by digest is the same bytes forever, so a repeated listing
reads from here and asks the registry only which digest each tag points to now. Entries are
checked against their digest before they are kept. The cache also remembers which digest a
tag pointed to last, and when the registry said so: a hint that lets a listing ask with a
`HEAD` instead of a `GET`, and, for a listing that accepts it (`max_age`, at most
`MAX_AGE` seconds: the console's images page), the answer itself while it is that fresh
(a tag pushed again meanwhile shows its old digest for those seconds). Removals never use
it: they ask the registry which digest a tag names before deleting it. Everything is
bounded by `IAM_REGISTRY_CACHE_BYTES`, least recently used first out; 0 keeps nothing. One
per process, shared by its threads.

A digest is looked up only after the registry said that the repository at hand holds it
(as the caller: a digest confirmed, or the tag listed in its tags), so the cache never
answers for content the caller could not read.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from iam.registry.content.manifests import Manifest

#: What one entry costs beyond its bytes (key, tuple, dictionary slot), roughly.
OVERHEAD = 200
#: The oldest a tag's digest a listing may accept from memory (`GET /v1/images?max_age=`).
MAX_AGE = 10.0


class DigestCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, ...], tuple[int, object]] = OrderedDict()
        self._bytes = 0

    @property
    def size(self) -> int:
        return self._bytes

    def _get(self, key: tuple[str, ...]) -> object | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[1]

    def _put(self, key: tuple[str, ...], value: object, cost: int) -> None:
        cost += OVERHEAD
        if cost > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[0]
            self._entries[key] = (cost, value)
            self._bytes += cost
            while self._bytes > self.max_bytes:
                _, (dropped, _value) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def manifest(self, digest: str) -> Manifest | None:
        found = self._get(("manifest", digest))
        return found if isinstance(found, Manifest) else None

    def keep_manifest(self, manifest: Manifest) -> None:
        self._put(("manifest", manifest.digest), manifest,
                  len(manifest.body) + len(manifest.digest) + len(manifest.media_type))

    def blob(self, digest: str) -> bytes | None:
        found = self._get(("blob", digest))
        return found if isinstance(found, bytes) else None

    def keep_blob(self, digest: str, body: bytes) -> None:
        self._put(("blob", digest), body, len(body) + len(digest))

    def _tag(self, registry: str, repository: str, tag: str) -> tuple[str, float] | None:
        found = self._get(("tag", registry, repository, tag))
        return found if isinstance(found, tuple) else None

    def tag_hint(self, registry: str, repository: str, tag: str) -> str | None:
        found = self._tag(registry, repository, tag)
        return found[0] if found else None

    def recent_tag(self, registry: str, repository: str, tag: str, *,
                   within: float) -> str | None:
        """The digest the registry said the tag pointed to at most `within` seconds ago
        (the memo a listing may accept with `max_age`; never a removal)."""
        found = self._tag(registry, repository, tag)
        if found is None or time.monotonic() - found[1] > within:
            return None
        return found[0]

    def keep_tag_hint(self, registry: str, repository: str, tag: str, digest: str) -> None:
        """What the registry just said the tag points to, and when."""
        self._put(("tag", registry, repository, tag), (digest, time.monotonic()),
                  len(registry) + len(repository) + len(tag) + len(digest) + 16)
