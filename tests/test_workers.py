"""`iam serve --workers 2`: each worker accepts on its own socket (SO_REUSEPORT), a real
Prometheus scrapes the metrics of both, SIGHUP replaces the workers without refusing a
request, SIGTERM lets them finish what they accepted.

One server for the module (starting it is the slow part). Which worker answered is read from
/proc (the worker holding the connection's socket), so the service needs no header for it.
The SIGTERM test stops that server: it runs last.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import Server, free_port, make_server

pytestmark = pytest.mark.server

METRICS_REGISTRY = "registry.metrics"
PROMETHEUS_BIN = shutil.which("prometheus") or "/usr/bin/prometheus"
AGENT = "workers-test/1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("workers"), IAM_AUTH_MAX_FAILURES="10000",
                      IAM_REGISTRIES=json.dumps([{"service": "registry.local"},
                                                 {"service": METRICS_REGISTRY}]))
    srv.cli("init", "--apikey-file", str(srv.root / "owner.key"))
    srv.start("--workers", "2")
    yield srv
    srv.stop()


def _owner_key(server: Server) -> str:
    return (server.root / "owner.key").read_text().strip()


def worker_pids(server: Server) -> list[int]:
    assert server.process is not None
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    workers = [int(c) for c in children
               if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]
    return sorted(workers)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed while we looked
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def _server_side_inodes(port: int) -> dict[int, str]:
    """The inode of the server's end of each connection to `port`, by the client's port."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == port:
            found[int(remote.split(":")[1], 16)] = inode
    return found


def _request(port: int, path: str = "/healthz") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {AGENT}\r\n"
            "\r\n").encode()


def _answer(conn: socket.socket) -> bytes:
    conn.settimeout(30)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


# --- metrics: a real Prometheus ------------------------------------------------------------

def _prometheus_query(url: str, query: str) -> float | None:
    r = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5)
    assert r.status_code == 200, r.text
    result = r.json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus(server: Server, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: iam\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{server.port}']\n")
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [PROMETHEUS_BIN, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_prometheus_counts_every_token_both_workers_issued(server: Server,
                                                           prometheus: str) -> None:
    issued, refused = 240, 7
    owner = _owner_key(server)

    def load(n: int) -> list[int]:
        with httpx.Client(timeout=30) as client:  # a new connection per request
            return [client.get(f"{server.url}/token", params={"service": METRICS_REGISTRY},
                               auth=("iamapikey", owner),
                               headers={"Connection": "close"}).status_code
                    for _ in range(n)]

    results: list[list[int]] = []
    threads = [threading.Thread(target=lambda: results.append(load(issued // 8)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    bad = [httpx.get(f"{server.url}/token", params={"service": METRICS_REGISTRY}, timeout=30,
                     auth=("iamapikey", "riam_not-a-key")).status_code for _ in range(refused)]
    for thread in threads:
        thread.join()
    assert [s for r in results for s in r] == [200] * issued
    assert bad == [401] * refused

    expected = {
        f'sum(iam_tokens_issued_total{{registry="{METRICS_REGISTRY}"}})': issued,
        f'sum(iam_tokens_refused_total{{registry="{METRICS_REGISTRY}",reason="malformed"}})':
            refused,
        'count(iam_build_info{schema!="unknown"})': 1,
        'up{job="iam"}': 1,
    }
    seen: dict[str, float | None] = {}
    deadline = time.monotonic() + 30
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        seen = {q: _prometheus_query(prometheus, q) for q in expected}
    assert seen == expected
    latency_count = _prometheus_query(
        prometheus, 'sum(iam_token_request_duration_seconds_count{route="/token"})')
    assert latency_count is not None and latency_count >= issued + refused


# --- SO_REUSEPORT: both workers take connections ----------------------------------------------

def test_two_workers_each_serve_a_share_of_many_short_connections(server: Server) -> None:
    """Bursts of connections opened at once: with one shared socket, the worker that wakes
    first accepts a whole burst; with a socket each, the kernel splits every burst."""
    workers = worker_pids(server)
    assert len(workers) == 2
    served: Counter[int] = Counter()
    for _ in range(4):
        conns = [socket.create_connection(("127.0.0.1", server.port), timeout=10)
                 for _ in range(32)]
        try:
            for conn in conns:
                conn.sendall(_request(server.port))
            answers = [_answer(conn) for conn in conns]
            assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers), answers
            inodes = _server_side_inodes(server.port)
            held = {pid: _socket_inodes(pid) for pid in workers}
            for conn in conns:
                inode = inodes[conn.getsockname()[1]]
                (owner,) = [pid for pid, own in held.items() if inode in own]
                served[owner] += 1
        finally:
            for conn in conns:
                conn.close()
    assert sum(served.values()) == 128
    assert min(served[pid] for pid in workers) >= 128 * 0.2, served


# --- SIGHUP and SIGTERM -------------------------------------------------------------------------

def test_sighup_replaces_both_workers_without_refusing_a_request(server: Server) -> None:
    before = worker_pids(server)
    statuses: Counter[int | str] = Counter()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    statuses[client.get(f"{server.url}/healthz",
                                        headers={"Connection": "close"}).status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while not set(before).isdisjoint(worker_pids(server)) or len(worker_pids(server)) != 2:
            assert time.monotonic() < deadline, f"workers not replaced: {worker_pids(server)}"
            time.sleep(0.2)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 10


def test_sigterm_lets_both_workers_finish_what_they_accepted(server: Server) -> None:
    """Runs last: it stops the module's server."""
    admin = httpx.post(f"{server.url}/identity/token", timeout=30, data={
        "grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": _owner_key(server)})
    token = admin.json()["access_token"]
    workers = worker_pids(server)
    time.sleep(0.3)
    before = sum(len(_socket_inodes(pid)) for pid in workers)
    conns = []
    for i in range(16):  # argon2 hashing: slow enough to be running at SIGTERM
        body = json.dumps({"name": f"drain-{i}", "password": f"Drain-password-{i}!"}).encode()
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        conn.sendall(f"POST /v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {AGENT}\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        conns.append(conn)
    deadline = time.monotonic() + 20
    while sum(len(_socket_inodes(pid)) for pid in workers) < before + len(conns):
        assert time.monotonic() < deadline, "the workers did not accept the connections"
        time.sleep(0.01)
    time.sleep(0.2)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    answers = [_answer(conn) for conn in conns]
    for conn in conns:
        conn.close()
    assert server.process.wait(timeout=60) == 0
    assert [a[:12] for a in answers] == [b"HTTP/1.1 201"] * len(conns)
    logs = server.logs()
    assert logs.count("Application shutdown complete") >= 2
    assert "audit events could not be written" not in logs
