"""The real server process driven by the real CLI, as an operator would use them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import Server, make_server

pytestmark = pytest.mark.server

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("server"))
    srv.cli("init", "--apikey-file", str(srv.root / "owner.key"))
    srv.start()
    yield srv
    srv.stop()


def _exchange(server: Server, apikey: str) -> httpx.Response:
    return httpx.post(f"{server.url}/identity/token",
                      data={"grant_type": APIKEY_GRANT, "apikey": apikey}, timeout=10)


def test_operator_lifecycle_through_cli(server: Server) -> None:
    """init, login, create a service ID and its key, exchange, list, lock, delete."""
    owner_key = (server.root / "owner.key").read_text().strip()
    assert (server.root / "owner.key").stat().st_mode & 0o777 == 0o600

    login = server.cli("login", "--apikey", f"@{server.root / 'owner.key'}",
                       "--endpoint", server.url, "--output", "json").json()
    assert login["iam_id"].startswith("iam-ServiceId-")

    sid = server.cli("service-id-create", "ci-robot", "-d", "builds images",
                     "--output", "json").json()
    key = server.cli("service-api-key-create", "ci-key", sid["id"], "--output", "json").json()
    assert key["apikey"].startswith("riam_") and key["iam_id"] == sid["iam_id"]

    token = _exchange(server, key["apikey"])
    assert token.status_code == 200 and token.json()["token_type"] == "Bearer"

    listed = server.cli("service-ids", "--output", "json").json()
    assert sid["id"] in {s["id"] for s in listed}
    keys = server.cli("service-api-keys", sid["id"], "--output", "json").json()
    assert [k["id"] for k in keys] == [key["id"]]
    assert all("apikey" not in k for k in keys)

    server.cli("service-id-lock", sid["id"])
    refused = server.cli("service-id-delete", sid["id"], "--force", check=False)
    assert refused.code == 1 and "unlock" in refused.stderr

    server.cli("service-id-unlock", sid["id"])
    server.cli("service-id-delete", sid["id"], "--force")

    gone = _exchange(server, key["apikey"])
    assert gone.status_code == 400 and gone.json()["error"] == "invalid_grant"
    assert _exchange(server, owner_key).status_code == 200


def test_init_twice_changes_nothing(server: Server) -> None:
    again = server.cli("init")
    assert "Already initialised" in again.stdout
    assert "riam_" not in again.stdout


def test_cli_table_output_lists_service_ids(server: Server) -> None:
    server.cli("login", "--apikey", f"@{server.root / 'owner.key'}", "--endpoint", server.url)
    server.cli("service-id-create", "table-robot")
    table = server.cli("service-ids").stdout
    assert table.splitlines()[0].split()[:2] == ["ID", "NAME"]
    assert "table-robot" in table


def test_cli_without_login_says_how_to_log_in(tmp_path: Path) -> None:
    lonely = make_server(tmp_path / "nologin")
    result = lonely.cli("service-ids", check=False)
    assert result.code == 1 and "iam login" in result.stderr


def test_secrets_never_stored_or_logged(server: Server) -> None:
    """Every key and password this run created is absent from the database and the logs."""
    server.cli("login", "--apikey", f"@{server.root / 'owner.key'}", "--endpoint", server.url)
    sid = server.cli("service-id-create", "secret-robot", "--output", "json").json()
    key = server.cli("service-api-key-create", "k", sid["id"], "--output", "json").json()
    password = "correct horse battery staple"
    server.cli("user-create", "alice", "--password-stdin", stdin=password + "\n")
    assert _exchange(server, key["apikey"]).status_code == 200
    httpx.post(f"{server.url}/identity/token", timeout=10,
               data={"grant_type": "password", "username": "alice", "password": password})
    _exchange(server, key["apikey"][:-1] + "x")  # a failed attempt is logged too
    owner_key = (server.root / "owner.key").read_text().strip()

    secrets = [key["apikey"], owner_key, password]
    stored = b"".join(p.read_bytes() for p in server.data_dir.glob("iam.db*"))
    logs = server.logs()
    cli_state = (server.root / "cli.json").read_text()
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret not in logs
        assert secret not in cli_state
