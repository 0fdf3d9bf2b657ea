"""What never changes once addressed by digest: manifests and image configs, kept in memory.

A manifest or a config fetched by digest is the same bytes forever, so a repeated listing
reads from here and asks the registry only which digest each tag points to now. Entries are
checked against their digest before they are kept. The cache also remembers which digest a
tag pointed to last (a hint, never an answer: it only lets a listing ask with a `HEAD`
instead of a `GET`). Everything is bounded by `IAM_REGISTRY_CACHE_BYTES`, least recently
used first out; 0 keeps nothing. One per process, shared by its threads.

A digest is looked up only after the registry said that the repository at hand holds it
(as the caller), so the cache never answers for content the caller could not read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from iam.registry.content.manifests import Manifest

#: What one entry costs beyond its bytes (key, tuple, dictionary slot), roughly.
OVERHEAD = 200


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

    def tag_hint(self, registry: str, repository: str, tag: str) -> str | None:
        found = self._get(("tag", registry, repository, tag))
        return found if isinstance(found, str) else None

    def keep_tag_hint(self, registry: str, repository: str, tag: str, digest: str) -> None:
        self._put(("tag", registry, repository, tag), digest,
                  len(registry) + len(repository) + len(tag) + len(digest))
