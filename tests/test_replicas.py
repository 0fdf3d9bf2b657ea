"""Three `iam serve` replicas on one PostgreSQL database behave as one service.

The churn test runs `IAM_CHURN_SECONDS` (default 20; the issue's figure is 60) of registry
token requests spread over the replicas while other threads create keys on one replica, use
them on every replica, and disable or delete them on another: zero 5xx, every created key
works at once everywhere, every disabled or deleted key is refused by every replica for any
request sent more than 1 s after the change, and after a clean shutdown every admin change
has its audit event. Failed logins are counted in Redis, so the brute-force limit holds
across replicas.
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
import pytest
import redis
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN_URL
from tests.server import Server, make_server

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.serial]  # a 1 s bound

CHURN_SECONDS = float(os.environ.get("IAM_CHURN_SECONDS", "20"))
REVOCATION_BOUND_S = 1.0
REPLICAS = 3
SERVICE = "registry.local"
SCOPE = "repository:churn/app:pull,push"
APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
ADMIN_AGENT = "churn-admin/1"  # every admin change of the churn is sent with this agent
LOAD_AGENT = "churn-load/1"
REDIS_URL = os.environ.get("IAM_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@dataclass
class Cluster:
    replicas: list[Server]
    database_url: str
    owner_key: str
    admin: dict[str, str] = field(default_factory=dict)

    def any(self) -> Server:
        return random.choice(self.replicas)  # spreading load, not security


# Redis database numbers for this run (1-15; 0 is left to people), each handed out once: the
# cluster's failure counters (it lives until the module ends) must not reach the limit test.
_REDIS_DBS = iter(random.sample(range(1, 16), 15))


def _redis_db() -> int:
    return next(_REDIS_DBS)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    name = f"iam_replicas_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory (HMAC secret, signing keys) for every replica of this module."""
    return tmp_path_factory.mktemp("replicas")


def _start_cluster(root: Path, name: str, pg_url: str, redis_url: str, count: int,
                   **env: str) -> list[Server]:
    data = root / "shared-data"
    replicas = [make_server(root / f"{name}{i}", IAM_DATA_DIR=str(data),
                            IAM_DATABASE_URL=pg_url, IAM_REDIS_URL=redis_url, **env)
                for i in range(count)]
    if not (data / "owner.key").exists():
        replicas[0].cli("init", "--apikey-file", str(data / "owner.key"))
    with ThreadPoolExecutor(len(replicas)) as pool:  # start them side by side
        starts = [pool.submit(replica.start) for replica in replicas]
    failed = [f.exception() for f in starts if f.exception() is not None]
    if failed:
        for replica in replicas:
            replica.stop()
        raise failed[0]
    return replicas


@pytest.fixture(scope="module")
def cluster(root: Path, pg_url: str) -> Iterator[Cluster]:
    redis_url = f"{REDIS_URL}/{_redis_db()}"
    replicas = _start_cluster(root, "churn", pg_url, redis_url, REPLICAS,
                              IAM_AUTH_MAX_FAILURES="10000")
    try:
        owner_key = (root / "shared-data" / "owner.key").read_text().strip()
        yield Cluster(replicas, pg_url, owner_key, _bearer(replicas[0], owner_key))
    finally:
        for replica in replicas:
            replica.stop()
        with redis.Redis.from_url(redis_url) as r:
            r.flushdb()


def _bearer(server: Server, apikey: str) -> dict[str, str]:
    r = httpx.post(f"{server.url}/identity/token", timeout=10,
                   data={"grant_type": APIKEY_GRANT, "apikey": apikey})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _basic(apikey: str) -> dict[str, str]:
    raw = base64.b64encode(f"iamapikey:{apikey}".encode()).decode()
    return {"Authorization": f"Basic {raw}", "User-Agent": LOAD_AGENT}


class Tally:
    """Statuses seen and problems found, shared by the worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.problems: list[str] = []
        self.mutations = 0
        self.keys_created = 0
        self.revoked = 0
        self.worst_revocation = 0.0

    def saw(self, r: httpx.Response) -> httpx.Response:
        with self.lock:
            self.statuses[r.status_code] += 1
            if r.status_code >= 500:
                self.problems.append(f"{r.request.method} {r.request.url}: {r.status_code} "
                                     f"{r.text[:200]}")
        return r

    def problem(self, message: str) -> None:
        with self.lock:
            self.problems.append(message)


def _granted(r: httpx.Response) -> list[str]:
    claims = jwt.decode(r.json()["token"], options={"verify_signature": False})
    actions: list[str] = claims["access"][0]["actions"]
    return sorted(actions)


def _load(cluster: Cluster, apikey: str, stop: float, tally: Tally) -> None:
    """Steady registry token requests with a key that stays valid, round robin."""
    with httpx.Client(timeout=10) as http:
        i = 0
        while time.monotonic() < stop:
            server = cluster.replicas[i % len(cluster.replicas)]
            i += 1
            r = tally.saw(http.get(f"{server.url}/token", headers=_basic(apikey),
                                   params={"service": SERVICE, "scope": SCOPE}))
            if r.status_code != 200 or _granted(r) != ["pull", "push"]:
                tally.problem(f"steady key refused on {server.url}: {r.status_code} {r.text}")


def _churn(cluster: Cluster, robot: str, stop: float, tally: Tally, n: int) -> None:
    """Create a key on one replica, use it everywhere, revoke it on another, poll all."""
    admin = {**cluster.admin, "User-Agent": ADMIN_AGENT}
    with httpx.Client(timeout=10) as http:
        i = 0
        while time.monotonic() < stop:
            i += 1
            r = tally.saw(http.post(f"{cluster.any().url}/v1/apikeys", headers=admin,
                                    json={"name": f"churn-{n}-{i}", "iam_id": robot}))
            with tally.lock:
                tally.mutations += 1
            if r.status_code != 201:
                tally.problem(f"create failed: {r.status_code} {r.text}")
                continue
            key_id, apikey = r.json()["id"], r.json()["apikey"]
            with tally.lock:
                tally.keys_created += 1
            for server in cluster.replicas:  # a new key works at once, everywhere
                t = tally.saw(http.get(f"{server.url}/token", headers=_basic(apikey),
                                       params={"service": SERVICE, "scope": SCOPE}))
                if t.status_code != 200 or _granted(t) != ["pull", "push"]:
                    tally.problem(f"new key refused on {server.url}: {t.status_code}")
            revoker = cluster.any()
            if i % 2:
                rv = http.post(f"{revoker.url}/v1/apikeys/{key_id}/disable", headers=admin)
            else:
                rv = http.delete(f"{revoker.url}/v1/apikeys/{key_id}", headers=admin)
            tally.saw(rv)
            with tally.lock:
                tally.mutations += 1
            if rv.status_code not in (200, 204):
                tally.problem(f"revoke failed: {rv.status_code} {rv.text}")
                continue
            revoked_at = time.monotonic()
            for server in cluster.replicas:
                # Measured when each request is *sent*: the bound is that a request sent more
                # than 1 s after the revocation is refused, whatever a loaded machine then
                # takes to answer it.
                while True:
                    sent = time.monotonic() - revoked_at
                    t = tally.saw(http.get(f"{server.url}/token", headers=_basic(apikey),
                                           params={"service": SERVICE, "scope": SCOPE}))
                    if t.status_code == 401:
                        break
                    if sent > REVOCATION_BOUND_S:
                        tally.problem(f"revoked key still works on {server.url} for a request "
                                      f"sent {sent:.2f} s after: {t.status_code}")
                        break
                    time.sleep(0.05)
                with tally.lock:
                    tally.worst_revocation = max(tally.worst_revocation, sent)
            with tally.lock:
                tally.revoked += 1


def _setup_robot(cluster: Cluster) -> tuple[str, str]:
    """A service ID that is Writer on `churn`, and its steady key."""
    url, admin = cluster.replicas[0].url, cluster.admin
    assert httpx.put(f"{url}/v1/namespaces/churn", headers=admin, timeout=10).status_code in (
        200, 201)
    robot = httpx.post(f"{url}/v1/serviceids", json={"name": "churner"}, headers=admin,
                       timeout=10).json()["iam_id"]
    r = httpx.post(f"{url}/v1/policies", headers=admin, timeout=10, json={
        "subject": {"iam_id": robot}, "roles": ["Writer"],
        "resource": {"service": "container-registry", "resource_type": "namespace",
                     "resource": "churn"}})
    assert r.status_code == 201, r.text
    steady = httpx.post(f"{url}/v1/apikeys", json={"name": "steady", "iam_id": robot},
                        headers=admin, timeout=10).json()["apikey"]
    return robot, steady


def _admin_events(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM audit_events WHERE user_agent = :agent "
                "AND action LIKE 'admin.%'"), {"agent": ADMIN_AGENT}).scalar_one())
    finally:
        engine.dispose()


def _token_actions(server: Server, apikey: str, scope: str) -> httpx.Response:
    return httpx.get(f"{server.url}/token", headers=_basic(apikey), timeout=10,
                     params={"service": SERVICE, "scope": scope})


def _eventually(check: Callable[[], httpx.Response], *, bound: float = REVOCATION_BOUND_S,
                until: Callable[[httpx.Response], bool]) -> httpx.Response:
    """Ask until `until` holds or a request was sent after the bound; the last answer."""
    deadline = time.monotonic() + bound
    while True:
        late = time.monotonic() > deadline
        r = check()
        if until(r) or late:
            return r
        time.sleep(0.02)


def _robot_with_key(cluster: Cluster, name: str, namespace: str) -> tuple[str, str, str, str]:
    """A service ID that is Writer on `namespace`: (service id, iam_id, policy id, key)."""
    url, admin = cluster.replicas[0].url, cluster.admin
    assert httpx.put(f"{url}/v1/namespaces/{namespace}", headers=admin,
                     timeout=10).status_code in (200, 201)
    sid = httpx.post(f"{url}/v1/serviceids", json={"name": name}, headers=admin,
                     timeout=10).json()
    policy = httpx.post(f"{url}/v1/policies", headers=admin, timeout=10, json={
        "subject": {"iam_id": sid["iam_id"]}, "roles": ["Writer"],
        "resource": {"service": "container-registry", "resource_type": "namespace",
                     "resource": namespace}}).json()
    key = httpx.post(f"{url}/v1/apikeys", json={"name": "k", "iam_id": sid["iam_id"]},
                     headers=admin, timeout=10).json()["apikey"]
    return sid["id"], sid["iam_id"], policy["id"], key


def test_policy_removed_on_one_replica_is_honoured_by_all_within_a_second(
        cluster: Cluster) -> None:
    _, _, policy_id, key = _robot_with_key(cluster, "policy-robot", "revoked-policy")
    scope = "repository:revoked-policy/app:pull,push"
    for server in cluster.replicas:
        r = _token_actions(server, key, scope)
        assert r.status_code == 200 and _granted(r) == ["pull", "push"], r.text
    r = httpx.delete(f"{cluster.replicas[1].url}/v1/policies/{policy_id}",
                     headers=cluster.admin, timeout=10)
    assert r.status_code == 204, r.text
    for server in cluster.replicas:  # each cache sees the change within the bound
        r = _eventually(lambda s=server: _token_actions(s, key, scope),  # type: ignore[misc]
                        until=lambda r: r.status_code == 200 and _granted(r) == [])
        assert r.status_code == 200 and _granted(r) == [], r.text


def test_service_id_deleted_on_one_replica_ends_its_keys_and_tokens_everywhere(
        cluster: Cluster) -> None:
    sid, _, _, key = _robot_with_key(cluster, "doomed-robot", "doomed")
    bearers = [_bearer(server, key) for server in cluster.replicas]
    r = httpx.delete(f"{cluster.replicas[2].url}/v1/serviceids/{sid}",
                     headers=cluster.admin, timeout=10)
    assert r.status_code == 204, r.text
    for server, bearer in zip(cluster.replicas, bearers, strict=True):
        r = _eventually(lambda s=server: _token_actions(  # type: ignore[misc]
            s, key, "repository:doomed/app:pull"), until=lambda r: r.status_code == 401)
        assert r.status_code == 401, r.text
        r = httpx.get(f"{server.url}/v1/serviceids", headers=bearer, timeout=10)
        assert r.status_code == 401, r.text
        assert r.json()["errors"][0]["code"] == "unauthorized"


def test_key_disabled_on_one_replica_ends_its_access_tokens_everywhere(
        cluster: Cluster) -> None:
    url, admin = cluster.replicas[0].url, cluster.admin
    robot = httpx.post(f"{url}/v1/serviceids", json={"name": "bearer-robot"}, headers=admin,
                       timeout=10).json()["iam_id"]
    key = httpx.post(f"{url}/v1/apikeys", json={"name": "k", "iam_id": robot},
                     headers=admin, timeout=10).json()
    bearers = [_bearer(server, key["apikey"]) for server in cluster.replicas]
    r = httpx.post(f"{cluster.replicas[1].url}/v1/apikeys/{key['id']}/disable", headers=admin,
                   timeout=10)
    assert r.status_code == 200, r.text
    for server, bearer in zip(cluster.replicas, bearers, strict=True):
        r = httpx.get(f"{server.url}/v1/serviceids", headers=bearer, timeout=10)
        assert r.status_code == 401, r.text
        assert r.json()["errors"][0]["code"] == "unauthorized"


def test_churn_across_replicas_loses_nothing_and_revokes_within_a_second(
        cluster: Cluster, record_property: Callable[[str, object], None]) -> None:
    robot, steady = _setup_robot(cluster)
    tally = Tally()
    stop = time.monotonic() + CHURN_SECONDS
    threads = [threading.Thread(target=_load, args=(cluster, steady, stop, tally))
               for _ in range(3)]
    threads += [threading.Thread(target=_churn, args=(cluster, robot, stop, tally, n))
                for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for replica in cluster.replicas:  # a clean shutdown flushes every queued audit event
        replica.stop()

    for name in ("keys_created", "revoked", "mutations", "worst_revocation"):
        record_property(name, getattr(tally, name))
    record_property("statuses", dict(tally.statuses))
    assert tally.problems == []
    assert not [s for s in tally.statuses if s >= 500], tally.statuses
    assert tally.keys_created >= 10 and tally.revoked == tally.keys_created, vars(tally)
    assert tally.worst_revocation <= REVOCATION_BOUND_S
    assert _admin_events(cluster.database_url) == tally.mutations
    for replica in cluster.replicas:
        logs = replica.logs()
        assert "Traceback" not in logs
        assert "audit events could not be written" not in logs


def test_failed_logins_are_limited_across_replicas(root: Path, pg_url: str) -> None:
    """Failures counted on one replica refuse the same key on another: 429 + Retry-After."""
    redis_url = f"{REDIS_URL}/{_redis_db()}"
    replicas = _start_cluster(root, "limited", pg_url, redis_url, 2,
                              IAM_AUTH_MAX_FAILURES="4")
    try:
        wrong = "riam_" + "A" * 49
        # spread the failures over both replicas; each counts in Redis
        for i in range(4):
            r = httpx.post(f"{replicas[i % 2].url}/identity/token", timeout=10,
                           data={"grant_type": APIKEY_GRANT, "apikey": wrong})
            assert r.status_code in (400, 401), r.text
        for replica in replicas:
            r = httpx.post(f"{replica.url}/identity/token", timeout=10,
                           data={"grant_type": APIKEY_GRANT, "apikey": wrong})
            assert r.status_code == 429, r.text
            assert 1 <= int(r.headers["Retry-After"]) <= 60
            assert json.dumps(r.json())  # a JSON body
    finally:
        for replica in replicas:
            replica.stop()
        with redis.Redis.from_url(redis_url) as conn:
            conn.flushdb()
