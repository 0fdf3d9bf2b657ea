"""Every secret a run creates is absent from the logs, the database and Redis, and masked in
every `repr`.

`tests/test_server_cli.py::test_secrets_never_stored_or_logged` covers SQLite and the CLI;
this runs the service on PostgreSQL and Redis at debug log level, with every credential kind
(owner, account, service ID and user keys, passwords and a changed password, access, refresh
and registry tokens, the HMAC secret, the private signing key) and near misses of each.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text

from iam.api.schemas import (
    AccountCreated,
    ApiKeyCreated,
    IdentityToken,
    PasswordChange,
    UserCreate,
)
from iam.config import Settings
from iam.identity.accounts import NewAccount
from iam.registry.basic_auth import BasicCredentials
from iam.registry.claims import RegistryToken
from iam.store.models import Account, ServiceId
from iam.tokens.access_tokens import TokenPair
from tests import workers
from tests.conftest import PG_ADMIN_URL
from tests.server import Server, make_server

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
SERVICE = "registry.local"
SECRET = "riam_" + "S" * 43 + "ecret1"  # stands for any secret value in the repr tests


@pytest.fixture
def pg_server(tmp_path: Path) -> Iterator[tuple[Server, str, str]]:
    name = f"iam_secrets_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    redis_url = workers.redis_url()
    srv = make_server(tmp_path / "secrets", IAM_DATABASE_URL=url, IAM_REDIS_URL=redis_url,
                      IAM_LOG_LEVEL="debug")
    try:
        srv.cli("init", "--apikey-file", str(srv.root / "owner.key"))
        srv.start()
        yield srv, name, redis_url
    finally:
        srv.stop()
        with redis.Redis.from_url(redis_url) as conn:
            conn.flushdb()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(
        f"{username}:{password}".encode()).decode()}


def _near_miss(secret: str) -> str:
    return secret[:-1] + ("x" if secret[-1] != "x" else "y")


class Run:
    """Drives the server through every credential kind, remembering each secret it sees."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.http = httpx.Client(base_url=srv.url, timeout=10)
        self.secrets: dict[str, str] = {}

    def keep(self, name: str, value: str) -> str:
        self.secrets[name] = value
        return value

    def ok(self, r: httpx.Response) -> Any:
        assert r.status_code in (200, 201, 204), r.text
        return r.json() if r.content else None

    def login(self, apikey: str, name: str) -> dict[str, str]:
        pair = self.ok(self.http.post("/identity/token", data={
            "grant_type": APIKEY_GRANT, "apikey": apikey}))
        self.keep(f"{name} access token", pair["access_token"])
        self.keep(f"{name} refresh token", pair["refresh_token"])
        refreshed = self.ok(self.http.post("/identity/token", data={
            "grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}))
        self.keep(f"{name} refreshed access token", refreshed["access_token"])
        return {"Authorization": f"Bearer {pair['access_token']}"}

    def registry_token(self, username: str, password: str, name: str) -> None:
        body = self.ok(self.http.get("/token", headers=_basic(username, password), params={
            "service": SERVICE, "scope": "repository:team/app:pull", "offline_token": "true"}))
        self.keep(f"{name} registry token", body["token"])
        if body.get("refresh_token"):
            self.keep(f"{name} registry refresh token", body["refresh_token"])

    def fail(self) -> None:
        """Near misses of every key and password: failed attempts are logged and audited."""
        for name, value in list(self.secrets.items()):
            if "key" not in name and "password" not in name:
                continue
            miss = self.keep(f"near miss of {name}", _near_miss(value))
            self.http.post("/identity/token", data={"grant_type": APIKEY_GRANT, "apikey": miss})
            self.http.get("/token", headers=_basic("iamapikey", miss),
                          params={"service": SERVICE})
            self.http.post("/identity/token", data={
                "grant_type": "password", "username": "alice", "password": miss})


def _exercise(srv: Server) -> Run:
    run = Run(srv)
    owner_key = run.keep("owner key", (srv.root / "owner.key").read_text().strip())
    admin = run.login(owner_key, "owner")
    run.ok(run.http.put("/v1/namespaces/team", headers=admin))
    robot = run.ok(run.http.post("/v1/serviceids", json={"name": "robot"}, headers=admin))
    key = run.ok(run.http.post("/v1/apikeys", json={"name": "k", "iam_id": robot["iam_id"]},
                               headers=admin))
    run.keep("service ID key", key["apikey"])
    run.ok(run.http.post("/v1/policies", headers=admin, json={
        "subject": {"iam_id": robot["iam_id"]}, "roles": ["Reader"],
        "resource": {"service": "container-registry", "resource_type": "namespace",
                     "resource": "team"}}))
    robot_headers = run.login(key["apikey"], "robot")
    run.registry_token("iamapikey", key["apikey"], "robot")
    run.registry_token("iambearer", robot_headers["Authorization"].split()[1], "robot bearer")

    first = run.keep("user password", "Correct-horse-battery-9")
    user = run.ok(run.http.post("/v1/users", json={"name": "alice", "password": first},
                                headers=admin))
    pair = run.ok(run.http.post("/identity/token", data={
        "grant_type": "password", "username": "alice", "password": first}))
    run.keep("user access token", pair["access_token"])
    user_headers = {"Authorization": f"Bearer {pair['access_token']}"}
    own = run.ok(run.http.post("/v1/apikeys", json={"name": "mine"}, headers=user_headers))
    run.keep("user key", own["apikey"])
    run.registry_token("alice", first, "user")
    second = run.keep("changed password", "Another-staple-battery-7")
    r = run.http.put(f"/v1/users/{user['iam_id']}/password", json={"password": second},
                     headers=admin)
    assert r.status_code == 204, r.text
    run.ok(run.http.post("/identity/token", data={
        "grant_type": "password", "username": "alice", "password": second}))

    account = run.ok(run.http.post("/v1/accounts", json={"name": "tenant"}, headers=admin))
    run.keep("account owner key", account["apikey"])
    run.login(account["apikey"], "tenant owner")
    run.fail()
    run.http.close()
    return run


def _files_secrets(srv: Server) -> dict[str, str]:
    data = srv.data_dir
    found = {"HMAC secret": (data / "hmac.secret").read_text().strip()}
    for key_file in sorted((data / "keys").glob("*.key")):
        pem = key_file.read_text()
        body = "".join(line for line in pem.splitlines() if "-----" not in line)
        found[f"private key {key_file.name}"] = body[16:80]  # a run of key material
    return found


def _redis_dump(redis_url: str) -> str:
    parts = []
    with redis.Redis.from_url(redis_url) as conn:
        for key in conn.scan_iter():
            parts.append(key.decode(errors="replace"))
            if conn.type(key) == b"string":
                parts.append(str(conn.get(key)))
    return "\n".join(parts)


def test_secrets_absent_from_postgresql_logs_and_redis(
        pg_server: tuple[Server, str, str]) -> None:
    srv, database, redis_url = pg_server
    run = _exercise(srv)
    secrets = {**run.secrets, **_files_secrets(srv)}
    assert len(secrets) >= 30
    dump = subprocess.run(["pg_dump", "--data-only", "-h", "127.0.0.1", "-U", "postgres",
                           database], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    assert "audit_events" in dump and "api_keys" in dump
    redis_text = _redis_dump(redis_url)
    assert "iam:fail:" in redis_text  # the failures were counted there
    srv.stop()  # flush the audit trail, then read every log line
    logs = srv.logs()
    assert "/identity/token" in logs  # the access log is on
    assert '"audit"' in logs  # and the audit trail's JSON lines
    places = {"database": dump, "logs": logs, "redis": redis_text}
    leaks = [f"{name} in {place}" for name, value in secrets.items()
             for place, content in places.items() if value in content]
    assert leaks == []


SECRET_HOLDERS = {
    "Settings": lambda: Settings(data_dir=Path("/nonexistent"), database_url="sqlite://",
                                 hmac_secret=SECRET),
    "BasicCredentials": lambda: BasicCredentials("iamapikey", SECRET),
    "TokenPair": lambda: TokenPair(SECRET, SECRET, 3600, 0),
    "RegistryToken": lambda: RegistryToken(token=SECRET, expires_in=300,
                                           issued_at=datetime.now(UTC)),
    "NewAccount": lambda: NewAccount(Account(id="a", name="n", owner_iam_id="o"),
                                     ServiceId(id="s", iam_id="o", account_id="a", name="n"),
                                     SECRET),
    "ApiKeyCreated": lambda: ApiKeyCreated.model_construct(id="ApiKey-1", apikey=SECRET),
    "AccountCreated": lambda: AccountCreated(id="a", name="n", owner_iam_id="o",
                                             owner_service_id="s", apikey=SECRET),
    "IdentityToken": lambda: IdentityToken(access_token=SECRET, refresh_token=SECRET,
                                           expires_in=1, expiration=1),
    "UserCreate": lambda: UserCreate(name="alice", password=SECRET),
    "PasswordChange": lambda: PasswordChange(password=SECRET),
}


@pytest.mark.parametrize("holder", sorted(SECRET_HOLDERS))
def test_repr_masks_secret(holder: str) -> None:
    obj = SECRET_HOLDERS[holder]()
    assert SECRET not in repr(obj)
    assert SECRET not in str(obj)
