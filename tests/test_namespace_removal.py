"""Deleting a namespace, in process, on both backends: its `deleting` state, what it withholds,
and the leases that keep several processes from running one removal at once.

`registry.us` (us-south) has a URL where nothing listens, as a registry that is down: its
namespaces stay `deleting`. The release of the name after the registries were emptied, the
wait it makes and the background job against real registries: tests/test_namespace_rm_e2e.py.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from iam.access import namespace_removals
from iam.api.app import create_app
from iam.config import Registry, Settings
from iam.registry.namespace_removal import LEASE_S, NamespaceRemover
from iam.runtime import Runtime
from iam.store.journal import ChangeJournal
from iam.store.models import utcnow
from tests.conftest import Owner, bearer, fresh_settings, initialize
from tests.server import free_port
from tests.test_policies_api import Headers, grant, namespace, second_account

US = {"region": "us-south"}
KEY = ("us-south", "team-a")


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    base = fresh_settings(backend, request, tmp_path / "data")
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    return base.model_copy(update={
        "registries": [Registry(service="registry.local"),
                       Registry(service="registry.us", region="us-south", url=down),
                       Registry(service="registry.eu", region="eu-de")],
        "namespace_removal_interval": 300.0,  # the tests run the job themselves
        "registry_timeout": 2.0})


@pytest.fixture
def client(settings: Settings, owner: Owner) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def owner(settings: Settings) -> Owner:
    return initialize(settings)


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def writer_key(client: TestClient, admin: Headers, name: str = "ci") -> tuple[str, str]:
    """A service ID holding Writer on team-a in us-south: its iam_id and API key."""
    r = client.post("/v1/serviceids", json={"name": name}, headers=admin)
    iam_id = r.json()["iam_id"]
    key = client.post("/v1/apikeys", json={"name": "k", "iam_id": iam_id},
                      headers=admin).json()["apikey"]
    assert grant(client, admin, iam_id, ["Writer"], region="us-south",
                 resource_type="namespace", resource="team-a").status_code == 201
    return iam_id, key


def granted(client: TestClient, key: str) -> list[str]:
    basic = base64.b64encode(f"iamapikey:{key}".encode()).decode()
    r = client.get("/token", params={"service": "registry.us",
                                     "scope": "repository:team-a/app:pull,push"},
                   headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200, r.text
    claims = r.json()["token"].split(".")[1]
    access = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["access"]
    actions: list[str] = access[0]["actions"]
    return actions


def delete(client: TestClient, headers: Headers) -> Any:
    return client.delete("/v1/namespaces/team-a", params=US, headers=headers)


def settled(runtime: Runtime, *, due: bool = False) -> None:
    """Once the attempt the request started has given its lease back (on a loaded machine
    it may outlast the request's budget), and with `due`, once the next one is due."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with runtime.read() as session:
            removal = namespace_removals.get(session, KEY)
            ready = removal is not None and not removal.lease_holder and (
                not due or KEY in namespace_removals.due(session, now=utcnow()))
        if ready:
            return
        time.sleep(0.1)
    raise AssertionError("the removal's attempt did not end")


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_deleting_while_a_registry_is_down_answers_202_deleting_naming_it(
        client: TestClient, admin: Headers) -> None:
    assert namespace(client, admin, "team-a", "us-south").status_code == 201
    r = delete(client, admin)
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["name"], body["region"], body["state"]) == ("team-a", "us-south", "deleting")
    assert body["images_deleted"] == 0 and body["attempts"] == 1
    (sweep,) = body["registries"]
    assert sweep["registry"] == "registry.us" and sweep["permanent"] is False
    assert "registry.us" in sweep["error"] and sweep["deleted"] == []
    assert "registry.us" in body["last_error"]
    # No registry token granted before the deletion can push after release_after:
    # IAM_TOKEN_TTL (300) + the registry's leeway (60) + the revocation bound (1 s).
    waited = when(body["release_after"]) - when(body["started_at"])
    assert waited == timedelta(seconds=361)


def test_a_deleting_namespace_is_listed_with_its_state_and_why(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-a", "us-south")
    namespace(client, admin, "team-b", "us-south")
    delete(client, admin)
    r = client.get("/v1/namespaces", params=US, headers=admin)
    assert r.status_code == 200, r.text
    rows = {n["name"]: n for n in r.json()["data"]}
    assert rows["team-a"]["state"] == "deleting" and rows["team-b"]["state"] == "active"
    assert "registry.us" in rows["team-a"]["last_error"] and rows["team-a"]["release_after"]
    for row in rows.values():  # the registry is down: unknown counts, not an error
        assert row["repositories"] is None and "registry.us" in row["counts_note"]
    fast = client.get("/v1/namespaces", params={**US, "counts": "false"}, headers=admin)
    assert [(n["name"], n["state"], n["counts_note"]) for n in fast.json()["data"]] == [
        ("team-a", "deleting", None), ("team-b", "active", None)]


def test_push_is_withheld_from_a_deleting_namespace_and_pull_is_not(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-a", "us-south")
    iam_id, key = writer_key(client, admin)
    assert granted(client, key) == ["pull", "push"]
    delete(client, admin)
    assert granted(client, key) == ["pull"]
    r = client.post("/v1/authz/check", headers=admin, json={
        "iam_id": iam_id, "action": "container-registry.image.push",
        "resource": {"service": "container-registry", "region": "us-south",
                     "resource_type": "namespace", "resource": "team-a"}})
    assert r.status_code == 200, r.text
    assert r.json()["allowed"] is False and "being deleted" in r.json()["reason"]


def test_no_account_may_add_a_namespace_while_it_is_being_deleted(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-a", "us-south")
    delete(client, admin)
    other = second_account(client, admin)
    for headers in (admin, other):
        r = namespace(client, headers, "team-a", "us-south")
        assert r.status_code == 409, r.text
        error = r.json()["errors"][0]
        assert error["target"] == "name" and "being deleted" in error["message"]
    assert namespace(client, other, "team-a", "").status_code == 201  # another region


def test_deleting_again_while_deleting_makes_one_more_attempt(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-a", "us-south")
    first = delete(client, admin).json()
    again = delete(client, admin)
    assert again.status_code == 202, again.text
    assert again.json()["attempts"] == first["attempts"] + 1
    assert again.json()["started_at"] == first["started_at"]


def test_deleting_needs_namespace_delete_and_changes_nothing_without_it(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-a", "us-south")
    _, key = writer_key(client, admin)
    r = delete(client, bearer(client, key))
    assert r.status_code == 403, r.text
    assert "container-registry.namespace.delete" in r.json()["errors"][0]["message"]
    rows = client.get("/v1/namespaces", params={"counts": "false"}, headers=admin).json()
    assert [n["state"] for n in rows["data"]] == ["active"]


def test_the_deletion_is_audited_with_the_namespace_before_and_after(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-a", "us-south")
    delete(client, admin)
    events = audit_events(client, admin, "admin.delete_namespace", 1)
    detail = events[0]["detail"]
    assert detail["status"] == 202
    changes = [detail, *detail.get("also", [])]
    states = [c for c in changes if "after" in c and c["after"].get("state")]
    assert states and states[0]["before"]["state"] == "active"
    assert states[0]["after"]["state"] == "deleting"
    swept = audit_events(client, admin, "namespace.removal.registry", 1)[0]
    assert swept["outcome"] == "failure" and '"registry.us"' in swept["raw"]


def audit_events(client: TestClient, headers: Headers, action: str,
                 expect: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        data = client.get("/v1/audit-events", params={"action": action},
                          headers=headers).json()["data"]
        if len(data) >= expect or time.monotonic() > deadline:
            return [{**e, "raw": e["detail"], "detail": json.loads(e["detail"])} for e in data]
        time.sleep(0.1)


# --- leases: one process at a time runs a removal -----------------------------------------


def test_a_leased_removal_is_claimed_by_no_other_process_until_its_lease_ends(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-a", "us-south")
    delete(client, admin)
    runtime = runtime_of(client)
    settled(runtime)
    now = utcnow()
    with runtime.write() as session:
        assert namespace_removals.claim(session, KEY, holder="a", now=now,
                                        lease_seconds=LEASE_S) is not None
    with runtime.write() as session:
        assert namespace_removals.claim(session, KEY, holder="b", now=now,
                                        lease_seconds=LEASE_S) is None
        assert namespace_removals.due(session, now=now + timedelta(seconds=60)) == []
    later = now + timedelta(seconds=LEASE_S + 1)  # "a" stopped without giving it back
    with runtime.write() as session:
        assert namespace_removals.due(session, now=later) == [KEY]
        assert namespace_removals.claim(session, KEY, holder="b", now=later,
                                        lease_seconds=LEASE_S) is not None
    with runtime.write() as session:  # "a" comes back: its results are not written
        assert not namespace_removals.record_attempt(
            session, KEY, holder="a", error="late", confirmed_at=None, next_attempt_at=later)
        assert not namespace_removals.renew(session, KEY, holder="a", now=later,
                                            lease_seconds=LEASE_S)
        assert namespace_removals.complete(session, KEY, journal=ChangeJournal(), holder="a",
                                           now=later, reserve=False) is None
    with runtime.read() as session:
        removal = namespace_removals.get(session, KEY)
    assert removal is not None and removal.lease_holder == "b"
    assert removal.last_error != "late"


def test_two_processes_resuming_at_once_run_the_removal_once(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-a", "us-south")
    first = delete(client, admin).json()
    runtime = runtime_of(client)
    settled(runtime, due=True)  # after retry_delay(1)
    base = runtime.namespace_removals
    replicas = [NamespaceRemover(**{**base.__dict__, "holder": f"replica-{i}"})
                for i in range(2)]
    ran: list[int] = []
    start = threading.Barrier(len(replicas))

    def resume(replica: NamespaceRemover) -> None:
        start.wait()
        ran.append(replica.resume_due())

    threads = [threading.Thread(target=resume, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(ran) == [0, 1]
    with runtime.read() as session:
        removal = namespace_removals.get(session, KEY)
    assert removal is not None and removal.attempts == first["attempts"] + 1
    assert removal.lease_holder == ""  # given back after the attempt

