"""Many concurrent writers on the SQLite backend: no "database is locked" reaches a client.

Two `iam serve` worker processes on one SQLite file; 16 client threads create service IDs
and keys, exchange them, disable and delete them, while the audit trail and the key-activity
recorder write in the background.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.server import Server, make_server

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.serial]  # 6 s of load

THREADS = 16
SECONDS = 6.0
APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("sqlite-writers"), IAM_AUTH_MAX_FAILURES="10000")
    srv.cli("init", "--apikey-file", str(srv.root / "owner.key"))
    srv.start("--workers", "2")
    yield srv
    srv.stop()


def _writer(url: str, admin: dict[str, str], n: int, stop: float,
            seen: Counter[int], problems: list[str], lock: threading.Lock) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        i = 0
        while time.monotonic() < stop:
            i += 1
            answers = []
            r = http.post("/v1/serviceids", json={"name": f"w{n}-{i}"}, headers=admin)
            answers.append(r)
            if r.status_code == 201:
                iam_id, sid = r.json()["iam_id"], r.json()["id"]
                k = http.post("/v1/apikeys", json={"name": "k", "iam_id": iam_id},
                              headers=admin)
                answers.append(k)
                if k.status_code == 201:
                    answers.append(http.post("/identity/token", data={
                        "grant_type": APIKEY_GRANT, "apikey": k.json()["apikey"]}))
                    answers.append(http.post(f"/v1/apikeys/{k.json()['id']}/disable",
                                             headers=admin))
                answers.append(http.delete(f"/v1/serviceids/{sid}", headers=admin))
            with lock:
                for a in answers:
                    seen[a.status_code] += 1
                    if a.status_code >= 500 or "database is locked" in a.text:
                        problems.append(f"{a.request.method} {a.request.url.path}: "
                                        f"{a.status_code} {a.text[:200]}")


def test_concurrent_writers_never_see_database_is_locked(server: Server) -> None:
    owner_key = (server.root / "owner.key").read_text().strip()
    r = httpx.post(f"{server.url}/identity/token", timeout=10,
                   data={"grant_type": APIKEY_GRANT, "apikey": owner_key})
    admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
    seen: Counter[int] = Counter()
    problems: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS
    threads = [threading.Thread(target=_writer,
                                args=(server.url, admin, n, stop, seen, problems, lock))
               for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
    assert set(seen) <= {200, 201, 204}, seen
    assert seen[201] >= THREADS * 2, seen  # every thread got real work done
    assert "database is locked" not in server.logs()
