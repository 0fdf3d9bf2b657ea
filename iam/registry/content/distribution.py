"""The distribution API (OCI distribution spec; CNCF distribution 2.8 and 3.x), as a client.

One `Distribution` serves one operation on one registry: its connection and its deadline.
Each call takes the bearer token minted for it (`credentials`). Answers are checked: a
manifest's bytes against its digest, JSON against the shape the spec documents; anything
else is a `RegistryBadAnswer` naming the registry. "Not there" is an answer (None, False,
an empty list), never an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from iam.errors import (
    RegistryBadAnswer,
    RegistryRefused,
    RegistryUnavailable,
)
from iam.registry.content.connection import Answer, Deadline, RegistryConnection
from iam.registry.content.manifests import ACCEPT, DIGEST, Manifest, check_digest

#: Distribution's largest catalog page (`catalog.maxentries`, 1000 by default).
CATALOG_PAGE = 1000
#: Tag lists are followed through their `Link` pages up to this many tags.
MAX_TAGS = 100_000
_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')
MAX_CONFIG = 8 * 1024 * 1024
MAX_MANIFEST = 4 * 1024 * 1024


def _error_code(answer: Answer) -> str:
    """The registry's own error code(s), for a message: `MANIFEST_UNKNOWN`..."""
    try:
        errors = json.loads(answer.body).get("errors") or []
        codes = [str(e.get("code", ""))[:40] for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError, UnicodeDecodeError):
        codes = []
    return ", ".join(c for c in codes if c) or f"HTTP {answer.status}"


def _next_last(answer: Answer) -> str | None:
    """The `last` of the next page a `Link: <...>; rel="next"` header names."""
    found = _NEXT.search(answer.headers.get("Link", ""))
    if found is None:
        return None
    values = parse_qs(urlsplit(found.group(1)).query).get("last")
    return values[0] if values else None


@dataclass(frozen=True)
class Distribution:
    connection: RegistryConnection
    deadline: Deadline

    @property
    def name(self) -> str:
        return self.connection.name

    def _send(self, method: str, path: str, token: str, **kw: object) -> Answer:
        return self.connection.send(method, path, deadline=self.deadline, token=token,
                                    **kw)  # type: ignore[arg-type]

    def unexpected(self, answer: Answer, what: str) -> Exception:
        """The error for an answer no call expects, naming the registry and its code."""
        code = _error_code(answer)
        if answer.status in (401, 403):
            return RegistryBadAnswer(
                f"registry {self.name} refused the token this service minted for {what} "
                f"({code}): check that it trusts this service's signing keys (iam "
                "registry-config) and names this service as its issuer", registry=self.name)
        if answer.status == 503:
            return RegistryUnavailable(f"registry {self.name} is unavailable ({code})",
                                       registry=self.name)
        if answer.status == 405:
            return RegistryRefused(f"registry {self.name} does not allow {what} ({code}); "
                                   "deletes need storage.delete.enabled: true in its "
                                   "configuration", target="registry")
        return RegistryBadAnswer(f"registry {self.name} answered {what} with {code}",
                                 registry=self.name)

    def _json_object(self, answer: Answer, what: str) -> dict[str, object]:
        try:
            value = json.loads(answer.body)
        except (ValueError, UnicodeDecodeError):
            value = None
        if not isinstance(value, dict):
            raise RegistryBadAnswer(f"registry {self.name} answered {what} with a body that "
                                    "is not a JSON object", registry=self.name)
        return value

    def _names(self, value: object, what: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RegistryBadAnswer(f"registry {self.name} answered {what} with a list that "
                                    "is not of names", registry=self.name)
        return list(value)

    # -- reading ------------------------------------------------------------------------

    def catalog(self, *, token: str, last: str, n: int = CATALOG_PAGE
                ) -> tuple[list[str], bool]:
        """One page of repository names after `last`, in the registry's order (path
        components compared one by one: `a/b` < `a/b/c` < `a/b-c` < `a-b/c`), and whether
        the registry says there is more."""
        answer = self._send("GET", "/v2/_catalog", token,
                            params={"n": str(n), **({"last": last} if last else {})})
        if answer.status != 200:
            raise self.unexpected(answer, "the catalog")
        names = self._names(self._json_object(answer, "the catalog").get("repositories"),
                            "the catalog")
        return names, _next_last(answer) is not None

    def tags(self, repository: str, *, token: str) -> list[str]:
        """Every tag of the repository (none when it has no tags or is not there)."""
        found: list[str] = []
        last: str | None = None
        while True:
            answer = self._send("GET", f"/v2/{repository}/tags/list", token,
                                params={"last": last} if last else None)
            if answer.status == 404:
                return found
            if answer.status != 200:
                raise self.unexpected(answer, f"the tags of {repository}")
            found += self._names(self._json_object(answer, "a tag list").get("tags"),
                                 f"the tags of {repository}")
            last = _next_last(answer)
            if last is None or len(found) >= MAX_TAGS:
                return found

    def head_manifest(self, repository: str, reference: str, *, token: str
                      ) -> tuple[str, str] | None:
        """(digest, media type) of a tag or digest, or None when it is not there."""
        answer = self._send("HEAD", f"/v2/{repository}/manifests/{reference}", token,
                            headers={"Accept": ACCEPT})
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self.unexpected(answer, f"manifest {repository}:{reference}")
        digest = answer.headers.get("Docker-Content-Digest", "")
        if not digest or (DIGEST.match(reference) and digest != reference):
            raise RegistryBadAnswer(f"registry {self.name} answered manifest {repository}:"
                                    f"{reference} without its digest", registry=self.name)
        return digest, answer.headers.get("Content-Type", "").split(";")[0].strip()

    def get_manifest(self, repository: str, reference: str, *, token: str
                     ) -> Manifest | None:
        answer = self._send("GET", f"/v2/{repository}/manifests/{reference}", token,
                            headers={"Accept": ACCEPT}, max_bytes=MAX_MANIFEST)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self.unexpected(answer, f"manifest {repository}:{reference}")
        digest = (reference if DIGEST.match(reference)
                  else answer.headers.get("Docker-Content-Digest", ""))
        if not digest:
            raise RegistryBadAnswer(f"registry {self.name} answered manifest {repository}:"
                                    f"{reference} without its digest", registry=self.name)
        check_digest(answer.body, digest, registry=self.name,
                     what=f"manifest {repository}:{reference}")
        media_type = answer.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(digest, media_type, answer.body)

    def get_blob(self, repository: str, digest: str, *, token: str,
                 max_bytes: int = MAX_CONFIG) -> bytes | None:
        answer = self._send("GET", f"/v2/{repository}/blobs/{digest}", token,
                            max_bytes=max_bytes, follow_redirects=True)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self.unexpected(answer, f"blob {digest[:19]} of {repository}")
        check_digest(answer.body, digest, registry=self.name, what=f"blob of {repository}")
        return answer.body

    # -- writing ------------------------------------------------------------------------

    def mount(self, target: str, *, source: str, digest: str, token: str) -> bool:
        """Mount a blob of `source` into `target` (no bytes move). False when the registry
        declined (it then opened an upload, which is cancelled here)."""
        answer = self._send("POST", f"/v2/{target}/blobs/uploads/", token,
                            params={"mount": digest, "from": source})
        if answer.status == 201:
            return True
        if answer.status == 202:
            location = answer.headers.get("Location", "")
            if location:
                parts = urlsplit(location)
                query = f"?{parts.query}" if parts.query else ""
                self._send("DELETE", f"{parts.path}{query}", token)
            return False
        raise self.unexpected(answer, f"the mount of {digest[:19]} into {target}")

    def put_manifest(self, repository: str, reference: str, manifest: Manifest, *,
                     token: str) -> None:
        """Put the exact bytes under a tag (or their digest); the registry must answer
        their digest."""
        answer = self._send("PUT", f"/v2/{repository}/manifests/{reference}", token,
                            content=manifest.body,
                            headers={"Content-Type": manifest.media_type})
        if answer.status != 201:
            raise self.unexpected(answer, f"the manifest {repository}:{reference}")
        answered = answer.headers.get("Docker-Content-Digest", manifest.digest)
        if answered != manifest.digest:
            raise RegistryBadAnswer(f"registry {self.name} stored {repository}:{reference} "
                                    f"as {answered[:80]}, not {manifest.digest}",
                                    registry=self.name)

    def delete_manifest(self, repository: str, digest: str, *, token: str) -> bool:
        """Delete by digest (every tag pointing to it goes too); False: it was not there."""
        answer = self._send("DELETE", f"/v2/{repository}/manifests/{digest}", token)
        if answer.status == 202:
            return True
        if answer.status == 404:
            return False
        raise self.unexpected(answer, f"deletes ({repository}@{digest[:19]})")

    def delete_tag(self, repository: str, tag: str, *, token: str) -> bool | None:
        """Delete one tag (OCI distribution 1.1). True: deleted; False: not there; None:
        this registry has no tag deletion (2.8 answers DIGEST_INVALID and changes
        nothing)."""
        answer = self._send("DELETE", f"/v2/{repository}/manifests/{tag}", token)
        if answer.status == 202:
            return True
        if answer.status == 404:
            return False
        if answer.status in (400, 405) and "DIGEST_INVALID" in _error_code(answer):
            return None
        raise self.unexpected(answer, f"deletes ({repository}:{tag})")
