"""Failure limits that strangers cannot turn against users, against the running server.

Each test comes from its own 127.0.0.x source address, so the module's servers are shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from iam.identity import apikey_format
from tests.attempts_env import (
    INVALID_GRANT,
    UNAUTHORIZED,
    bearer,
    events,
    from_ip,
    key_exchange,
    password_login,
    registry_login,
)
from tests.server import Server, make_server

pytestmark = pytest.mark.server

PASSWORD = "a long and correct passphrase 7"


@dataclass
class World:
    srv: Server
    owner_key: str
    admin: dict[str, str]


def _world(root: object, **env: str) -> Iterator[World]:
    srv = make_server(root, IAM_AUTH_MAX_FAILURES="3", **env)  # type: ignore[arg-type]
    srv.cli("init", "--apikey-file", str(srv.root / "owner.key"))
    srv.start()
    try:
        owner_key = (srv.root / "owner.key").read_text().strip()
        admin = bearer(srv, owner_key)
        r = httpx.post(f"{srv.url}/v1/users", headers=admin, timeout=10,
                       json={"name": "alice", "password": PASSWORD})
        assert r.status_code == 201, r.text
        yield World(srv, owner_key, admin)
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """No trusted proxy (the default); 3 failures allowed per window."""
    yield from _world(tmp_path_factory.mktemp("limits"))


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """127.0.0.1 is a trusted proxy."""
    yield from _world(tmp_path_factory.mktemp("proxied"), IAM_TRUSTED_PROXIES="127.0.0.1/32")


def _unknown_key() -> str:
    return apikey_format.generate()  # well-formed, checksum right, never issued


# --- keys: a correct one is never refused ---------------------------------------------------


def test_correct_key_is_not_refused_after_strangers_failures(world: World) -> None:
    """1,000 wrong keys from one address; then the right key from it and from another."""
    statuses = []
    with from_ip("127.0.0.2") as http:
        for i in range(1000):
            if i % 2:
                statuses.append(registry_login(http, world.srv, "iamapikey",
                                               _unknown_key()).status_code)
            else:
                statuses.append(key_exchange(http, world.srv, _unknown_key()).status_code)
        assert statuses[:3] == [400, 401, 400]
        assert set(statuses[3:]) == {429}
        from_stranger = [registry_login(http, world.srv, "iamapikey", world.owner_key),
                         key_exchange(http, world.srv, world.owner_key)]
    with from_ip("127.0.0.1") as http:
        from_elsewhere = [registry_login(http, world.srv, "iamapikey", world.owner_key),
                          key_exchange(http, world.srv, world.owner_key)]
    for token, identity in (from_stranger, from_elsewhere):
        assert token.status_code == 200, token.text
        assert token.json()["token"]
        assert identity.status_code == 200, identity.text
        assert identity.json()["token_type"] == "Bearer"


def test_failed_key_over_the_limit_gets_429_with_retry_after(world: World) -> None:
    with from_ip("127.0.0.3") as http:
        for _ in range(3):
            assert registry_login(http, world.srv, "iamapikey",
                                  _unknown_key()).json()["errors"] == UNAUTHORIZED
        token = registry_login(http, world.srv, "iamapikey", _unknown_key())
        identity = key_exchange(http, world.srv, _unknown_key())
    assert token.status_code == 429, token.text
    assert token.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert 1 <= int(token.headers["Retry-After"]) <= 60
    assert identity.status_code == 429, identity.text
    assert identity.json()["errors"][0]["code"] == "too_many_requests"
    assert 1 <= int(identity.headers["Retry-After"]) <= 60


def test_refresh_token_is_not_refused_after_failures_from_its_address(world: World) -> None:
    with from_ip("127.0.0.4") as http:
        refresh = key_exchange(http, world.srv, world.owner_key).json()["refresh_token"]
        for _ in range(5):
            http.post(f"{world.srv.url}/identity/token",
                      data={"grant_type": "refresh_token", "refresh_token": "not.a.token"})
        r = http.post(f"{world.srv.url}/identity/token",
                      data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert r.status_code == 200, r.text
    assert r.json()["access_token"]


# --- passwords: limited per address and per name from that address ---------------------------


def test_user_cannot_be_locked_out_by_a_stranger(world: World) -> None:
    """A stranger hammering alice's password is refused; alice logs in from her address."""
    with from_ip("127.0.0.5") as http:
        for _ in range(3):
            r = password_login(http, world.srv, "alice", "wrong guess")
            assert (r.status_code, r.json()) == (400, INVALID_GRANT)
        hammering = [password_login(http, world.srv, "alice", "wrong guess"),
                     registry_login(http, world.srv, "alice", "wrong guess")]
    with from_ip("127.0.0.1") as http:
        identity = password_login(http, world.srv, "alice", PASSWORD)
        token = registry_login(http, world.srv, "alice", PASSWORD)
    assert [r.status_code for r in hammering] == [429, 429]
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in hammering)
    assert identity.status_code == 200, identity.text
    assert identity.json()["access_token"]
    assert token.status_code == 200, token.text
    assert token.json()["token"]


def test_correct_password_from_the_hammering_address_waits_for_the_window(
        world: World) -> None:
    """The documented bound: a name is limited per address, even with the right password."""
    with from_ip("127.0.0.6") as http:
        for _ in range(3):
            password_login(http, world.srv, "alice", "wrong guess")
        r = password_login(http, world.srv, "alice", PASSWORD)
    assert r.status_code == 429, r.text
    assert r.json()["errors"][0]["code"] == "too_many_requests"


def test_password_spraying_from_one_address_is_limited(world: World) -> None:
    """Many names from one address: 5 x the limit, then 429 before any argon2 hash."""
    with from_ip("127.0.0.7") as http:
        statuses = [password_login(http, world.srv, f"name{i}", "guess").status_code
                    for i in range(15)]
        r = password_login(http, world.srv, "someone-else", "guess")
    assert statuses == [400] * 15
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) >= 1


def test_wrong_keys_do_not_count_against_passwords(world: World) -> None:
    with from_ip("127.0.0.8") as http:
        for _ in range(5):
            key_exchange(http, world.srv, _unknown_key())
        r = password_login(http, world.srv, "alice", PASSWORD)
    assert r.status_code == 200, r.text


# --- the client address: forwarded headers from trusted proxies only -------------------------


def test_spoofed_x_forwarded_for_is_ignored(world: World) -> None:
    """A new X-Forwarded-For each time escapes nothing: the peer is counted and audited."""
    agent = "spoofer/1"
    with from_ip("127.0.0.9", **{"User-Agent": agent}) as http:
        answers = [registry_login(http, world.srv, "iamapikey", _unknown_key(),
                                  **{"X-Forwarded-For": f"198.51.100.{i}",
                                     "Forwarded": f"for=198.51.100.{i}"})
                   for i in range(4)]
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    trail = events(world.srv, world.admin, user_agent=agent, expect=4)
    assert len(trail) == 4
    assert {e["client_ip"] for e in trail} == {"127.0.0.9"}


def test_forwarded_address_from_a_trusted_proxy_is_audited(proxied: World) -> None:
    agent = "behind-proxy/1"
    with from_ip("127.0.0.1", **{"User-Agent": agent}) as http:
        failed = registry_login(http, proxied.srv, "iamapikey", _unknown_key(),
                                **{"X-Forwarded-For": "203.0.113.7"})
        good = key_exchange(http, proxied.srv, proxied.owner_key,
                            **{"Forwarded": 'for="203.0.113.8:5555";proto=https'})
    assert failed.status_code == 401
    assert good.status_code == 200, good.text
    trail = events(proxied.srv, proxied.admin, user_agent=agent, expect=2)
    assert sorted((e["outcome"], e["client_ip"]) for e in trail) == [
        ("failure", "203.0.113.7"), ("success", "203.0.113.8")]


def test_limits_are_per_forwarded_address_behind_a_trusted_proxy(proxied: World) -> None:
    with from_ip("127.0.0.1") as http:
        def login(forwarded_for: str, apikey: str) -> int:
            return registry_login(http, proxied.srv, "iamapikey", apikey,
                                  **{"X-Forwarded-For": forwarded_for}).status_code

        hammered = [login("203.0.113.20", _unknown_key()) for _ in range(4)]
        neighbour = login("203.0.113.21", _unknown_key())
        hammerer_with_the_right_key = login("203.0.113.20", proxied.owner_key)
    assert hammered == [401, 401, 401, 429]
    assert neighbour == 401
    assert hammerer_with_the_right_key == 200


def test_forwarded_headers_from_an_untrusted_peer_are_ignored_by_a_proxied_server(
        proxied: World) -> None:
    agent = "not-the-proxy/1"
    with from_ip("127.0.0.10", **{"User-Agent": agent}) as http:
        answers = [registry_login(http, proxied.srv, "iamapikey", _unknown_key(),
                                  **{"X-Forwarded-For": f"203.0.113.{30 + i}"})
                   for i in range(4)]
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    trail = events(proxied.srv, proxied.admin, user_agent=agent, expect=4)
    assert {e["client_ip"] for e in trail} == {"127.0.0.10"}


def test_admin_changes_are_audited_with_the_forwarded_address(proxied: World) -> None:
    agent = "admin-behind-proxy/1"
    r = httpx.post(f"{proxied.srv.url}/v1/serviceids", timeout=10, json={"name": "via-proxy"},
                   headers={**proxied.admin, "User-Agent": agent,
                            "X-Forwarded-For": "203.0.113.40"})
    assert r.status_code == 201, r.text
    trail = events(proxied.srv, proxied.admin, user_agent=agent, action="admin.")
    assert [(e["action"], e["client_ip"]) for e in trail] == [
        ("admin.create_service_id", "203.0.113.40")]
