"""The HTTP connection to one registry's API: its URL, TLS settings, bounded waits.

Every request waits at most `IAM_REGISTRY_TIMEOUT` seconds, and no longer than what is left
of its operation's `Deadline` (`IAM_REGISTRY_DEADLINE`). Bodies are read up to a bound
(`max_bytes`), never whole from an answer that claims more. Transport failures become the
domain's registry errors, each naming the registry: unreachable -> `RegistryUnavailable`,
slow -> `RegistryTimeout`, not HTTP -> `RegistryBadAnswer`.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from iam import __version__
from iam.config import Registry
from iam.errors import RegistryBadAnswer, RegistryTimeout, RegistryUnavailable, Unsupported

#: The most of any answer read into memory (a manifest is at most 4 MiB in distribution).
MAX_BODY = 8 * 1024 * 1024


@dataclass(frozen=True)
class Deadline:
    """When an operation must be over (time.monotonic), and its length, for messages."""

    end: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    def remaining(self) -> float:
        return self.end - time.monotonic()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes


def _verify(registry: Registry) -> ssl.SSLContext | bool:
    if not registry.tls_verify:
        return False
    if registry.ca_file is not None:
        return ssl.create_default_context(cafile=str(registry.ca_file))
    return True


class RegistryConnection:
    """A pooled HTTP client to one registry (thread-safe; one per registry and process)."""

    def __init__(self, registry: Registry, *, timeout: float, concurrency: int) -> None:
        if not registry.url:
            raise Unsupported(f"registry {registry.service} has no url: this service cannot "
                              "reach its content (set its url to use image commands)",
                              target="registry")
        self.registry = registry
        self.timeout = timeout
        try:
            verify = _verify(registry)
        except (OSError, ssl.SSLError) as exc:
            raise RegistryUnavailable(f"registry {registry.service}: its CA file "
                                      f"{registry.ca_file} cannot be used ({exc})",
                                      registry=registry.service) from None
        # Room for several operations at once; each bounds its own concurrency.
        limits = httpx.Limits(max_connections=4 * concurrency,
                              max_keepalive_connections=4 * concurrency)
        self.client = httpx.Client(base_url=registry.url.rstrip("/"), verify=verify,
                                   limits=limits, timeout=timeout,
                                   headers={"User-Agent": f"registry-iam/{__version__}"})

    @property
    def name(self) -> str:
        return self.registry.service

    def close(self) -> None:
        self.client.close()

    def send(self, method: str, path: str, *, deadline: Deadline, token: str,
             headers: Mapping[str, str] | None = None,
             params: Mapping[str, str] | None = None, content: bytes | None = None,
             max_bytes: int = MAX_BODY, follow_redirects: bool = False) -> Answer:
        """One request with a bearer token; the body is read up to `max_bytes`."""
        left = min(self.timeout, deadline.remaining())
        if left <= 0:
            raise RegistryTimeout(f"the operation on registry {self.name} took longer than "
                                  f"{deadline.seconds:g} s (IAM_REGISTRY_DEADLINE)",
                                  registry=self.name)
        request = self.client.build_request(
            method, path, params=params, content=content, timeout=left,
            headers={"Authorization": f"Bearer {token}", **(headers or {})})
        try:
            response = self.client.send(request, stream=True, follow_redirects=follow_redirects)
            try:
                body = self._read(response, max_bytes)
            finally:
                response.close()
        except httpx.TimeoutException:
            raise RegistryTimeout(f"registry {self.name} did not answer within {left:.1f} s",
                                  registry=self.name) from None
        except (httpx.RemoteProtocolError, httpx.DecodingError):
            raise RegistryBadAnswer(f"registry {self.name} answered something that is not "
                                    "HTTP", registry=self.name) from None
        except httpx.TransportError as exc:
            raise RegistryUnavailable(f"registry {self.name} cannot be reached at "
                                      f"{self.registry.url}: {_reason(exc)}",
                                      registry=self.name) from None
        return Answer(response.status_code, response.headers, body)

    def _read(self, response: httpx.Response, max_bytes: int) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise RegistryBadAnswer(f"registry {self.name} answered {declared} bytes, more "
                                    f"than the {max_bytes} this service reads",
                                    registry=self.name)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise RegistryBadAnswer(f"registry {self.name} answered more than the "
                                        f"{max_bytes} bytes this service reads",
                                        registry=self.name)
            chunks.append(chunk)
        return b"".join(chunks)


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


class Connections:
    """One connection per registry, made on first use and made again when the registry's
    URL or TLS settings change; closed with the runtime."""

    def __init__(self, *, timeout: float, concurrency: int) -> None:
        self.timeout = timeout
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._open: dict[str, tuple[Registry, RegistryConnection]] = {}

    def to(self, registry: Registry) -> RegistryConnection:
        with self._lock:
            found = self._open.get(registry.service)
            if found is not None and found[0] == registry:
                return found[1]
            connection = RegistryConnection(registry, timeout=self.timeout,
                                            concurrency=self.concurrency)
            if found is not None:
                found[1].close()
            self._open[registry.service] = (registry, connection)
            return connection

    def close(self) -> None:
        with self._lock:
            for _, connection in self._open.values():
                connection.close()
            self._open.clear()
