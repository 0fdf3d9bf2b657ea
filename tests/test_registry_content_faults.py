"""When a registry fails a content operation: stopped (503), too slow (504), answering
nonsense (502), stopping part way (the error says exactly what was done), or unknown to
this service by url (skipped with a note). Each names the registry.

The registries are real processes and sockets: a `docker-registry` started and stopped (its
port then refuses), and tiny local servers that answer what a broken registry would.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient

from iam.api.app import create_app
from iam.config import Registry
from tests.conftest import BACKENDS, bearer, fresh_settings, initialize
from tests.server import free_port

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
DIGESTS = {tag: f"sha256:{hashlib.sha256(tag.encode()).hexdigest()}" for tag in ("a", "b")}


class _Garbage(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(4096)
        self.request.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")


class _Silent(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(4096)
        time.sleep(3)


class _Nonsense(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"<html>not a registry</html>")

    def log_message(self, *args: object) -> None:
        pass


class _HalfBroken(BaseHTTPRequestHandler):
    """A registry whose repository `part/app` has tags a and b (two digests), and that
    deletes the first digest asked and fails the second."""

    deleted: ClassVar[list[str]] = []

    def _answer(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/v2/part/app/tags/list"):
            self._answer(200, json.dumps({"name": "part/app", "tags": ["a", "b"]}).encode())
        else:
            self._answer(404, b'{"errors":[{"code":"NAME_UNKNOWN"}]}')

    def do_HEAD(self) -> None:
        tag = self.path.rsplit("/", 1)[-1]
        if tag in DIGESTS:
            self._answer(200, Docker_Content_Digest=DIGESTS[tag],
                         Content_Type="application/vnd.oci.image.manifest.v1+json")
        else:
            self._answer(404)

    def do_DELETE(self) -> None:
        digest = self.path.rsplit("/", 1)[-1]
        if not self.deleted:
            self.deleted.append(digest)
            self._answer(202)
        else:
            self._answer(500, b'{"errors":[{"code":"UNKNOWN","message":"disk full"}]}')

    def log_message(self, *args: object) -> None:
        pass


def _serve(server: socketserver.BaseServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


pytestmark = pytest.mark.registry  # starts (and stops) a real docker-registry


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Registry]]:
    root = tmp_path_factory.mktemp("faults")
    port = free_port()
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                      f"    rootdirectory: {root / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    stopped = subprocess.Popen([REGISTRY_BIN, "serve", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    stopped.terminate()
    stopped.wait(timeout=10)
    servers: list[socketserver.BaseServer] = [
        socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Garbage),
        socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Silent),
        ThreadingHTTPServer(("127.0.0.1", 0), _Nonsense),
        ThreadingHTTPServer(("127.0.0.1", 0), _HalfBroken)]
    for server in servers:
        server.daemon_threads = True  # type: ignore[attr-defined]
        _serve(server)
    url = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]  # type: ignore[index]
    yield {r.region: r for r in (
        Registry(service="registry.stopped", region="stopped", url=f"http://127.0.0.1:{port}"),
        Registry(service="registry.garbage", region="garbage", url=url[0]),
        Registry(service="registry.slow", region="slow", url=url[1]),
        Registry(service="registry.nonsense", region="nonsense", url=url[2]),
        Registry(service="registry.half", region="half", url=url[3]),
        Registry(service="registry.nourl", region="nourl"))}
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            registries: dict[str, Registry]) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """One service per backend for the module: its tests only read (and one removal on a
    scripted registry, reset by that test)."""
    settings = fresh_settings(str(request.param), request,
                              tmp_path_factory.mktemp("service") / "data")
    configured = settings.model_copy(update={"registries": list(registries.values()),
                                             "registry_timeout": 0.5})
    owner = initialize(configured)
    with TestClient(create_app(configured)) as client:
        admin = bearer(client, owner.apikey)
        for region in registries:
            r = client.put("/v1/namespaces/part", params={"region": region}, headers=admin)
            assert r.status_code == 201, r.text
        yield client, admin


def _error(response: object) -> tuple[int, str, str]:
    body = response.json()  # type: ignore[attr-defined]
    return (response.status_code, body["errors"][0]["code"],  # type: ignore[attr-defined]
            body["errors"][0]["message"])


def _host(client: TestClient, service: str) -> str:
    """The host docker users write for that registry (its url's)."""
    registry = client.app.state.runtime.registries.get(service)  # type: ignore[attr-defined]
    return str(registry.url).split("//", 1)[1]


def test_a_stopped_registry_is_503_naming_it(service: tuple[TestClient, dict[str, str]]
                                            ) -> None:
    client, admin = service
    r = client.get("/v1/images", params={"region": "stopped"}, headers=admin)
    status, code, message = _error(r)
    assert (status, code) == (503, "registry_unavailable")
    assert message.startswith("registry registry.stopped cannot be reached at http://127.0.0.1:")


def test_a_registry_too_slow_is_504_within_the_timeout(
        service: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = service
    started = time.monotonic()
    r = client.get("/v1/images", params={"region": "slow"}, headers=admin)
    assert time.monotonic() - started < 2.5
    assert _error(r) == (504, "registry_timeout",
                         "registry registry.slow did not answer within 0.5 s")


def test_a_registry_answering_something_not_http_is_502_naming_it(
        service: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = service
    host = _host(client, "registry.garbage")
    r = client.get("/v1/images/inspect", params={"image": f"{host}/part/app:1"}, headers=admin)
    assert _error(r) == (502, "registry_bad_answer",
                         "registry registry.garbage answered something that is not HTTP")


def test_a_registry_answering_nonsense_json_is_502_naming_it(
        service: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = service
    r = client.get("/v1/images", params={"region": "nonsense"}, headers=admin)
    assert _error(r) == (502, "registry_bad_answer", "registry registry.nonsense answered "
                         "the catalog with a body that is not a JSON object")


def test_a_removal_stopped_part_way_says_exactly_what_was_done(
        service: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = service
    _HalfBroken.deleted.clear()
    host = _host(client, "registry.half")
    r = client.delete("/v1/repositories", params={"repository": f"{host}/part/app"},
                      headers=admin)
    status, code, message = _error(r)
    assert (status, code) == (502, "incomplete")
    assert "registry registry.half answered deletes" in message and "UNKNOWN" in message
    body = r.json()
    assert body["done"] == [{"repository": "part/app", "digest": DIGESTS["a"], "tags": ["a"]}]
    assert body["not_done"] == [{"repository": "part/app", "digest": DIGESTS["b"],
                                 "tags": ["b"]}]
    assert _HalfBroken.deleted == [DIGESTS["a"]]


def test_a_registry_without_url_is_skipped_in_listings_with_a_note(
        service: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = service
    r = client.get("/v1/images", params={"region": "nourl"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == []
    assert r.json()["notes"] == [
        "registry registry.nourl has no url: its images are not listed"]
