"""Every failed authentication on record, for the right readers, against the running server.

The module's scenario fails once in each way (user agent `probe/<kind>`), from 127.0.0.1:
the system operator sees every failure; team-a's owner sees those naming team-a's
identities; team-b's owner sees none of them. The client gets the same answer every time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from iam.identity import apikey_format
from tests.attempts_env import (
    APIKEY_GRANT,
    INVALID_GRANT,
    SERVICE,
    UNAUTHORIZED,
    basic,
    bearer,
    events,
)
from tests.server import Server, make_server

pytestmark = pytest.mark.server

PASSWORD = "bob's own long passphrase"
# kind -> (endpoint, reason); `named` kinds name a team-a identity
KINDS = {
    "malformed-key": ("token", "malformed"),
    "unknown-key": ("identity", "unknown_key"),
    "malformed-basic": ("token", "malformed"),
    "bad-bearer": ("token", "bad_token"),
    "bad-refresh": ("identity", "bad_token"),
    "unknown-user": ("identity", "unknown_user"),
    "disabled-key": ("identity", "disabled"),
    "expired-key": ("token", "expired"),
    "wrong-password": ("token", "wrong_password"),
    "refresh-of-deleted-key": ("identity", "key_gone"),
    "refresh-of-deleted-user": ("token", "owner_gone"),
}
NAMED = {"disabled-key", "expired-key", "wrong-password", "refresh-of-deleted-key",
         "refresh-of-deleted-user"}


@dataclass
class Scenario:
    srv: Server
    operator: dict[str, str]
    team_a: dict[str, str]
    team_b: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)  # kind -> the key id or iam_id named
    answers: dict[str, httpx.Response] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)


def _post(srv: Server, path: str, headers: dict[str, str], body: dict[str, Any]
          ) -> dict[str, Any]:
    r = httpx.post(f"{srv.url}{path}", headers=headers, json=body, timeout=10)
    assert r.status_code == 201, r.text
    found: dict[str, Any] = r.json()
    return found


def _identity(srv: Server, agent: str, **form: str) -> httpx.Response:
    return httpx.post(f"{srv.url}/identity/token", data=form, timeout=10,
                      headers={"User-Agent": agent})


def _token(srv: Server, agent: str, authorization: dict[str, str],
           **form: str) -> httpx.Response:
    headers = {"User-Agent": agent, **authorization}
    if form:
        return httpx.post(f"{srv.url}/token", data={"service": SERVICE, **form},
                          headers=headers, timeout=10)
    return httpx.get(f"{srv.url}/token", params={"service": SERVICE}, headers=headers,
                     timeout=10)


def _refresh_token(srv: Server, **form: str) -> str:
    r = httpx.post(f"{srv.url}/identity/token", data=form, timeout=10)
    assert r.status_code == 200, r.text
    token: str = r.json()["refresh_token"]
    return token


def _fail_in_every_way(s: Scenario, team_a_key: str) -> None:
    srv, a = s.srv, s.team_a
    robot = _post(srv, "/v1/serviceids", a, {"name": "robot"})
    disabled = _post(srv, "/v1/apikeys", a, {"name": "off", "iam_id": robot["iam_id"]})
    r = httpx.post(f"{srv.url}/v1/apikeys/{disabled['id']}/disable", headers=a, timeout=10)
    assert r.status_code == 200, r.text
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    expiring = _post(srv, "/v1/apikeys", a, {"name": "soon", "iam_id": robot["iam_id"],
                                             "expires_at": soon})
    doomed = _post(srv, "/v1/apikeys", a, {"name": "doomed", "iam_id": robot["iam_id"]})
    bob = _post(srv, "/v1/users", a, {"name": "bob", "password": PASSWORD})
    carol = _post(srv, "/v1/users", a, {"name": "carol", "password": PASSWORD})
    doomed_refresh = _refresh_token(srv, grant_type=APIKEY_GRANT, apikey=doomed["apikey"])
    carol_refresh = _refresh_token(srv, grant_type="password", username="carol",
                                   password=PASSWORD)
    for path in (f"/v1/apikeys/{doomed['id']}", f"/v1/users/{carol['iam_id']}"):
        assert httpx.delete(f"{srv.url}{path}", headers=a, timeout=10).status_code == 204
    unknown = apikey_format.generate()
    s.secrets += [team_a_key, disabled["apikey"], expiring["apikey"], doomed["apikey"],
                  doomed_refresh, carol_refresh, unknown, PASSWORD]
    s.ids = {"disabled-key": disabled["id"], "expired-key": expiring["id"],
             "refresh-of-deleted-key": doomed["id"], "wrong-password": bob["iam_id"],
             "refresh-of-deleted-user": carol["iam_id"], "unknown-key": unknown[:9]}
    time.sleep(2.1)  # `soon` has passed
    attempts = {
        "malformed-key": lambda ua: _token(srv, ua, basic("iamapikey", "riam_short")),
        "unknown-key": lambda ua: _identity(srv, ua, grant_type=APIKEY_GRANT, apikey=unknown),
        "malformed-basic": lambda ua: _token(srv, ua, {"Authorization": "Basic !!!"}),
        "bad-bearer": lambda ua: _token(srv, ua, basic("iambearer", "not.a.jwt")),
        "bad-refresh": lambda ua: _identity(srv, ua, grant_type="refresh_token",
                                            refresh_token="not.a.jwt"),
        "unknown-user": lambda ua: _identity(srv, ua, grant_type="password",
                                             username="nobody", password="guess"),
        "disabled-key": lambda ua: _identity(srv, ua, grant_type=APIKEY_GRANT,
                                             apikey=disabled["apikey"]),
        "expired-key": lambda ua: _token(srv, ua, basic("iamapikey", expiring["apikey"])),
        "wrong-password": lambda ua: _token(srv, ua, basic("bob", "not bob's password")),
        "refresh-of-deleted-key": lambda ua: _identity(srv, ua, grant_type="refresh_token",
                                                       refresh_token=doomed_refresh),
        "refresh-of-deleted-user": lambda ua: _token(srv, ua, {}, grant_type="refresh_token",
                                                     refresh_token=carol_refresh),
    }
    for kind, fail in attempts.items():
        s.answers[kind] = fail(f"probe/{kind}")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    srv = make_server(tmp_path_factory.mktemp("failed-authn"))
    srv.cli("init", "--apikey-file", str(srv.root / "operator.key"))
    srv.start()
    try:
        operator_key = (srv.root / "operator.key").read_text().strip()
        operator = bearer(srv, operator_key)
        team_a = _post(srv, "/v1/accounts", operator, {"name": "team-a"})
        team_b = _post(srv, "/v1/accounts", operator, {"name": "team-b"})
        s = Scenario(srv, operator, bearer(srv, team_a["apikey"]),
                     bearer(srv, team_b["apikey"]), secrets=[operator_key])
        _fail_in_every_way(s, team_a["apikey"])
        yield s
    finally:
        srv.stop()


def _probes(s: Scenario, headers: dict[str, str], expect: int = 1,
            wait: float = 5) -> dict[str, dict[str, Any]]:
    """The probe events a reader sees, by kind (each kind fails once)."""
    found = events(s.srv, headers, expect=expect, wait=wait, outcome="failure")
    probes = {e["user_agent"].removeprefix("probe/"): e for e in found
              if e["user_agent"].startswith("probe/")}
    assert len(probes) == len([e for e in found if e["user_agent"].startswith("probe/")])
    return probes


def test_failed_authentications_reach_the_system_operators_trail(scenario: Scenario) -> None:
    seen = _probes(scenario, scenario.operator, expect=len(KINDS))
    assert {kind: json.loads(e["detail"])["reason"] for kind, e in seen.items()} == {
        kind: reason for kind, (_, reason) in KINDS.items()}


def test_failures_naming_an_identity_reach_its_accounts_trail(scenario: Scenario) -> None:
    seen = _probes(scenario, scenario.team_a, expect=len(NAMED))
    assert set(seen) == NAMED
    assert {kind: json.loads(e["detail"])["reason"] for kind, e in seen.items()} == {
        kind: KINDS[kind][1] for kind in NAMED}


def test_failure_names_the_key_id_or_the_identity(scenario: Scenario) -> None:
    seen = _probes(scenario, scenario.team_a, expect=len(NAMED))
    for kind in ("disabled-key", "expired-key", "refresh-of-deleted-key"):
        assert json.loads(seen[kind]["detail"])["apikey_id"] == scenario.ids[kind]
        assert seen[kind]["actor"].startswith("iam-ServiceId-")
    assert seen["wrong-password"]["actor"] == scenario.ids["wrong-password"]
    assert json.loads(seen["wrong-password"]["detail"])["username"] == "bob"
    assert seen["refresh-of-deleted-user"]["actor"] == scenario.ids["refresh-of-deleted-user"]


def test_unknown_key_is_recorded_by_its_first_characters_only(scenario: Scenario) -> None:
    seen = _probes(scenario, scenario.operator, expect=len(KINDS))
    detail = json.loads(seen["unknown-key"]["detail"])
    assert detail["key_prefix"] == scenario.ids["unknown-key"]
    assert len(detail["key_prefix"]) == len("riam_") + 4
    assert seen["unknown-key"]["actor"] == ""
    assert json.loads(seen["unknown-user"]["detail"])["username"] == "nobody"


def test_failure_events_carry_the_client_address_and_agent(scenario: Scenario) -> None:
    seen = _probes(scenario, scenario.operator, expect=len(KINDS))
    assert {e["client_ip"] for e in seen.values()} == {"127.0.0.1"}
    assert all(e["user_agent"] == f"probe/{kind}" for kind, e in seen.items())


def test_no_secret_reaches_the_trail(scenario: Scenario) -> None:
    trail = json.dumps(events(scenario.srv, scenario.operator, expect=len(KINDS)))
    trail += json.dumps(events(scenario.srv, scenario.team_a, expect=len(NAMED)))
    for secret in scenario.secrets:
        assert secret not in trail


def test_other_accounts_see_none_of_the_failures(scenario: Scenario) -> None:
    _probes(scenario, scenario.operator, expect=len(KINDS))  # all written by now
    assert _probes(scenario, scenario.team_b, expect=0, wait=0) == {}


def test_every_failure_gets_the_same_answer(scenario: Scenario) -> None:
    for kind, (endpoint, _) in KINDS.items():
        r = scenario.answers[kind]
        if endpoint == "identity":
            assert (r.status_code, r.json()) == (400, INVALID_GRANT), kind
        else:
            assert (r.status_code, r.json()["errors"]) == (401, UNAUTHORIZED), kind


def test_throttled_attempt_is_recorded_for_the_operator(scenario: Scenario) -> None:
    agent = "probe-throttled/1"
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.60"),
                      headers={"User-Agent": agent}, timeout=10) as http:
        statuses = [http.post(f"{scenario.srv.url}/identity/token",
                              data={"grant_type": APIKEY_GRANT,
                                    "apikey": apikey_format.generate()}).status_code
                    for _ in range(11)]
    assert statuses == [400] * 10 + [429]
    found = events(scenario.srv, scenario.operator, user_agent=agent, outcome="throttled")
    assert [json.loads(e["detail"])["reason"] for e in found] == ["throttled"]
    assert json.loads(found[0]["detail"])["cause"] == "unknown_key"
    assert found[0]["client_ip"] == "127.0.0.60"


def test_cli_audit_outcome_failure_shows_failures(scenario: Scenario) -> None:
    srv = scenario.srv
    _probes(scenario, scenario.operator, expect=len(KINDS))
    srv.cli("login", "--apikey", f"@{srv.root / 'operator.key'}", "--endpoint", srv.url)
    shown = srv.cli("audit", "--outcome", "failure", "--limit", "1000", "--output",
                    "json").json()
    probes = {e["user_agent"] for e in shown if e["user_agent"].startswith("probe/")}
    assert probes == {f"probe/{kind}" for kind in KINDS}
    assert {e["outcome"] for e in shown} == {"failure"}


def test_cli_audit_table_shows_the_reason(scenario: Scenario) -> None:
    srv = scenario.srv
    _probes(scenario, scenario.operator, expect=len(KINDS))
    srv.cli("login", "--apikey", f"@{srv.root / 'operator.key'}", "--endpoint", srv.url)
    table = srv.cli("audit", "--outcome", "failure", "--limit", "1000").stdout
    assert "REASON" in table.splitlines()[0]
    assert "wrong_password" in table and "unknown_key" in table


def test_refused_admin_bearer_is_recorded_for_the_operator_and_the_named_account(
        scenario: Scenario) -> None:
    srv, agent = scenario.srv, "probe-admin/1"
    key = _post(srv, "/v1/apikeys", scenario.team_a,
                {"name": "short-lived", "iam_id": _post(srv, "/v1/serviceids", scenario.team_a,
                                                        {"name": "admin-robot"})["iam_id"]})
    stale = bearer(srv, key["apikey"])
    r = httpx.delete(f"{srv.url}/v1/apikeys/{key['id']}", headers=scenario.team_a, timeout=10)
    assert r.status_code == 204, r.text
    answers = [httpx.get(f"{srv.url}/v1/serviceids", timeout=10,
                         headers={**headers, "User-Agent": agent})
               for headers in (stale, {"Authorization": "Bearer not.a.jwt"})]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json()["errors"] == answers[1].json()["errors"]
    operator = events(srv, scenario.operator, user_agent=agent, expect=2,
                      action="iam.admin.authenticate")
    team_a = events(srv, scenario.team_a, user_agent=agent, action="iam.admin.authenticate")
    assert sorted(json.loads(e["detail"])["reason"] for e in operator) == ["bad_token",
                                                                          "key_gone"]
    assert [json.loads(e["detail"])["apikey_id"] for e in team_a] == [key["id"]]
