"""The web console without a browser: sessions, cookies, CSRF, CSP, the sign-in limits, the
secrets it shows once, and that it acts with the signed-in identity's own rights through the
API's route functions (a Reader's forged form is refused). Both backends."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from iam import bootstrap
from iam.config import Registry, Settings
from iam.console.app import create_app
from iam.errors import Unauthenticated
from iam.identity import console_sessions
from iam.identity.apikey_format import digest
from iam.identity.authn import Principal, principal_of_digest
from iam.runtime import Runtime
from tests.conftest import BACKENDS, Owner, bearer, fresh_settings, initialize
from tests.console_client import alerts, field_errors, sign_in, signin_form
from tests.test_layout import api_routes

BASE = "http://127.0.0.1:8080"
PASSWORD = "correct horse battery staple"
PLANTED = "planted-by-an-attacker"


class World:
    """One service per backend for the module: the owner, team-a, a Reader robot and a
    user; every test signs in its own browser (TestClient with its own cookies)."""

    def __init__(self, settings: Settings, owner: Owner, app_client: TestClient) -> None:
        self.settings, self.owner, self.api = settings, owner, app_client
        self.admin = bearer(app_client, owner.apikey)
        self.api.put("/v1/namespaces/team-a", params={"region": "us-south"},
                     headers=self.admin).raise_for_status()
        reader = self.api.post("/v1/serviceids", json={"name": "reader-bot"},
                               headers=self.admin).json()
        self.reader_iam_id = reader["iam_id"]
        self.api.post("/v1/policies", headers=self.admin, json={
            "subject": {"iam_id": reader["iam_id"]}, "roles": ["Reader"],
            "resource": {"service": "container-registry", "region": "us-south",
                         "resource_type": "namespace", "resource": "team-a"}},
        ).raise_for_status()
        self.reader_key = self.api.post("/v1/apikeys", headers=self.admin, json={
            "name": "r", "iam_id": reader["iam_id"]}).json()["apikey"]
        alice = self.api.post("/v1/users", json={"name": "alice", "password": PASSWORD},
                              headers=self.admin)
        alice.raise_for_status()
        self.alice_iam_id = alice.json()["iam_id"]

    def browser(self) -> TestClient:
        return TestClient(self.api.app, base_url=BASE)


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = fresh_settings(str(request.param), request,
                              tmp_path_factory.mktemp("console") / "data")
    settings = settings.model_copy(update={"registries": [Registry(
        service="registry.us", region="us-south", url="http://127.0.0.1:5000")],
        "auth_max_failures": 3})
    owner = initialize(settings)
    with TestClient(create_app(settings), base_url=BASE) as client:
        yield World(settings, owner, client)


def owner_browser(world: World) -> tuple[TestClient, str]:
    browser = world.browser()
    return browser, sign_in(browser, apikey=world.owner.apikey)


# -- the session cookie -------------------------------------------------------------------

def test_signin_sets_an_httponly_strict_cookie_scoped_to_the_console(world: World) -> None:
    browser = world.browser()
    r = browser.post("/console/signin", follow_redirects=False, data={
        "signin_token": signin_form(browser), "apikey": world.owner.apikey})
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("iam_console="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console"} <= flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    assert world.owner.apikey not in r.headers["location"] and "max-age" not in cookie.lower()


def test_signin_over_tls_marks_the_cookie_secure(world: World) -> None:
    browser = TestClient(world.api.app, base_url="https://127.0.0.1:8443")
    r = browser.post("/console/signin", follow_redirects=False, data={
        "signin_token": signin_form(browser), "apikey": world.owner.apikey})
    assert r.status_code == 303
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("iam_console="))
    assert "secure" in cookie.lower()


def test_signin_gives_a_new_session_id_whatever_cookie_came_along(world: World) -> None:
    """Session fixation: a cookie planted before sign-in is neither kept nor valid."""
    browser = world.browser()
    browser.cookies.set("iam_console", PLANTED, domain="127.0.0.1", path="/console")
    sign_in(browser, apikey=world.owner.apikey)
    assert browser.cookies.get("iam_console", domain="127.0.0.1") not in (None, PLANTED)
    attacker = world.browser()
    attacker.cookies.set("iam_console", PLANTED, domain="127.0.0.1", path="/console")
    r = attacker.get("/console/serviceids", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/signin")


def test_signout_revokes_the_session_on_the_server(world: World) -> None:
    browser, csrf = owner_browser(world)
    stolen = browser.cookies.get("iam_console")
    r = browser.post("/console/signout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/signin?signed_out=1"
    replay = world.browser()
    replay.cookies.set("iam_console", str(stolen), domain="127.0.0.1", path="/console")
    r = replay.get("/console/serviceids", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/signin?ended=1"


@pytest.mark.parametrize(("idle", "after", "alive"), [
    (900, 899, True), (900, 900, False),  # the idle timeout
    (10**6, 3599, True), (10**6, 3600, False),  # the absolute lifetime (3600 s here)
])
def test_session_ends_after_the_idle_timeout_and_at_its_lifetime(
        world: World, idle: int, after: int, alive: bool) -> None:
    runtime = Runtime.start(world.settings)
    try:
        principal = _owner_principal(runtime, world)
        with runtime.write() as session:
            opened = console_sessions.open_session(session, secret=runtime.secret,
                                                   principal=principal, lifetime=3600,
                                                   idle=idle)
        later = opened.row.last_seen_at + timedelta(seconds=after)
        with runtime.read() as session:
            if alive:
                live = console_sessions.current_session(
                    session, secret=runtime.secret, token=opened.token, idle=idle, now=later)
                assert live.principal.iam_id == world.owner.iam_id
            else:
                with pytest.raises(Unauthenticated) as ended:
                    console_sessions.current_session(
                        session, secret=runtime.secret, token=opened.token, idle=idle,
                        now=later)
                assert ended.value.reason == "session_ended"
    finally:
        runtime.close()


def _owner_principal(runtime: Runtime, world: World) -> Principal:
    with runtime.read() as session:
        return principal_of_digest(session, digest(world.owner.apikey, runtime.secret))


def test_a_disabled_key_ends_the_sessions_opened_with_it(world: World) -> None:
    key = world.api.post("/v1/apikeys", headers=world.admin,
                         json={"name": "short-lived", "iam_id": world.reader_iam_id}).json()
    browser = world.browser()
    sign_in(browser, apikey=key["apikey"])
    world.api.post(f"/v1/apikeys/{key['id']}/disable", headers=world.admin).raise_for_status()
    r = browser.get("/console/namespaces", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/signin?ended=1"


# -- sign-in ------------------------------------------------------------------------------

def test_signin_with_a_password_acts_as_the_user(world: World) -> None:
    browser = world.browser()
    sign_in(browser, username="alice", password=PASSWORD)
    home = browser.get("/console")
    assert "Signed in as <strong>alice</strong>" in home.text and "a password" in home.text


def _mistyped(key: str) -> str:
    return key[:-1] + ("y" if key[-1] != "y" else "z")


def test_signin_with_bad_credentials_says_the_same_for_every_cause(world: World) -> None:
    answers = set()
    for credentials in ({"apikey": "riam_nonsense"}, {"apikey": _mistyped(world.owner.apikey)},
                        {"username": "alice", "password": "wrong password!"},
                        {"username": "nobody", "password": PASSWORD}):
        browser = world.browser()
        r = browser.post("/console/signin", data={"signin_token": signin_form(browser),
                                                  **credentials})
        assert r.status_code == 401, (credentials, r.url, r.text[:600])
        answers.add(alerts(r.text))
        assert "iam_console=" not in r.headers.get("set-cookie", "")
    assert answers == {"The API key, or the user name and password, are not valid."}


def test_signin_form_is_limited_like_the_token_endpoint(world: World) -> None:
    """`IAM_AUTH_MAX_FAILURES` (3 here) wrong passwords for a name from one address; then
    429 with Retry-After, even for the right password."""
    world.api.post("/v1/users", json={"name": "bob", "password": PASSWORD},
                   headers=world.admin).raise_for_status()
    browser = world.browser()
    for _ in range(3):
        r = browser.post("/console/signin", data={"signin_token": signin_form(browser),
                                                  "username": "bob", "password": "guess guess"})
        assert r.status_code == 401
    r = browser.post("/console/signin", data={"signin_token": signin_form(browser),
                                              "username": "bob", "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in alerts(r.text)


def test_signin_without_its_form_token_is_refused(world: World) -> None:
    """No login CSRF: a sign-in posted by another site's page (no pre-session cookie) fails."""
    r = world.browser().post("/console/signin", data={"apikey": world.owner.apikey},
                             follow_redirects=False)
    assert r.status_code == 403
    assert "iam_console=" not in r.headers.get("set-cookie", "")


# -- CSRF and the page policy -------------------------------------------------------------

def test_a_change_posted_without_the_csrf_token_is_refused_and_changes_nothing(
        world: World) -> None:
    browser, csrf = owner_browser(world)
    for data in ({"name": "forged-robot"}, {"name": "forged-robot", "csrf_token": "0" * 64}):
        r = browser.post("/console/serviceids", data=data)
        assert r.status_code == 403
        assert "anti-forgery token" in r.text
    r = browser.post("/console/serviceids", data={"name": "forged-robot", "csrf_token": csrf},
                     headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    found = world.api.get("/v1/serviceids", params={"name": "forged-robot"},
                          headers=world.admin).json()
    assert found["count"] == 0


def test_console_pages_carry_a_csp_without_inline_script_or_other_origins(world: World) -> None:
    browser, _ = owner_browser(world)
    for path in ("/console", "/console/signin", "/console/serviceids", "/console/audit"):
        r = browser.get(path)
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"] == "'self'" and directives["default-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in csp and "http" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"
        assert "<script>" not in r.text and " on" + "click=" not in r.text


# -- acting with one's own rights ---------------------------------------------------------

def test_a_reader_sees_no_remove_or_create_buttons(world: World) -> None:
    browser = world.browser()
    sign_in(browser, apikey=world.reader_key)
    page = browser.get("/console/namespaces")
    assert page.status_code == 200 and "team-a" in page.text
    assert "Remove…" not in page.text and "Add a namespace" not in page.text
    assert browser.get("/console/serviceids").status_code == 403


def test_a_readers_forged_remove_is_refused_by_the_server(world: World) -> None:
    browser = world.browser()
    csrf = sign_in(browser, apikey=world.reader_key)
    r = browser.post("/console/namespaces/team-a/remove",
                     data={"csrf_token": csrf, "region": "us-south", "confirm": "team-a"})
    assert r.status_code == 403
    assert "missing action container-registry.namespace.delete" in alerts(r.text)
    names = [n["name"] for n in world.api.get("/v1/namespaces", headers=world.admin).json()["data"]]
    assert "team-a" in names


def test_a_change_made_in_the_console_is_audited_under_the_apis_action(world: World) -> None:
    browser, csrf = owner_browser(world)
    r = browser.post("/console/serviceids", data={"name": "audited-robot", "csrf_token": csrf})
    assert r.status_code == 200 and "audited-robot" in r.text
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        events = world.api.get("/v1/audit-events", headers=world.admin, params={
            "action": "admin.create_service_id"}).json()["data"]
        mine = [e for e in events if "audited-robot" in e["detail"]]
        if mine:
            break
        time.sleep(0.1)
    assert mine and mine[0]["target"] == "/console/serviceids"
    assert mine[0]["actor"] == world.owner.iam_id and mine[0]["outcome"] == "success"


def test_an_invalid_value_is_shown_beside_its_field(world: World) -> None:
    browser, csrf = owner_browser(world)
    r = browser.post("/console/namespaces", data={"csrf_token": csrf, "name": "x",
                                                  "region": "us-south"})
    assert r.status_code == 400
    assert any("4 to 30 characters" in e for e in field_errors(r.text))
    assert 'aria-invalid="true" aria-describedby="f-name-error"' in r.text


# -- a new key, shown once ----------------------------------------------------------------

def test_a_new_key_is_shown_once_with_the_docker_login_line(world: World) -> None:
    browser, csrf = owner_browser(world)
    r = browser.post("/console/serviceids", data={"name": "key-robot", "csrf_token": csrf})
    robot_page = str(r.url).removeprefix(BASE)
    r = browser.post(f"{robot_page}/keys", data={"key_name": "ci-key", "csrf_token": csrf},
                     follow_redirects=False)
    assert r.status_code == 200  # the answer to the form itself, never a redirect
    value = r.text.split('<textarea id="new-key" rows="2" readonly>', 1)[1].split("<", 1)[0]
    assert value.startswith("riam_") and len(value) == 54
    assert "docker login 127.0.0.1:5000 -u iamapikey --password-stdin\n" in r.text
    assert 'data-copy="new-key"' in r.text
    again = browser.get(robot_page)
    assert again.status_code == 200 and "ci-key" in again.text and value not in again.text
    assert value not in browser.get("/console/audit").text


def test_docs_and_redoc_load_only_local_assets(world: World) -> None:
    for path, asset in (("/docs", "/docs/assets/swagger-ui-bundle.js"),
                        ("/redoc", "/docs/assets/redoc.standalone.js")):
        page = world.api.get(path)
        assert page.status_code == 200 and asset in page.text
        assert "cdn" not in page.text and "https://" not in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "http" not in csp
        assert world.api.get(asset).status_code == 200
    assert world.api.get("/docs/assets/own/swagger-init.js").status_code == 200


def test_bootstrap_of_the_world_is_one_account(world: World) -> None:
    """The module's service is a plain `iam init` (the console adds no set-up step)."""
    assert bootstrap.initialize(world.settings).new_account is None


def test_every_console_form_refuses_a_post_without_the_csrf_token(world: World) -> None:
    """Each POST route of the console (but sign-in, which has its own token) answers 403 to
    a signed-in browser's post without the token: no change can skip the check."""
    browser, _ = owner_browser(world)
    posts = sorted({route.path for route in api_routes(world.api.app.routes)
                    if "POST" in route.methods
                    and route.path.startswith("/console") and route.path != "/console/signin"})
    assert len(posts) > 20
    for path in posts:
        concrete = re.sub(r"\{[^}]+\}", "x-1", path)
        r = browser.post(concrete, data={"name": "forged"}, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
        assert "anti-forgery token" in r.text, path
    assert browser.get("/console").status_code == 200  # and the session still stands


def test_the_operator_adds_a_registry_and_others_only_read_the_list(world: World) -> None:
    browser, csrf = owner_browser(world)
    r = browser.post("/console/operator/registries", data={
        "csrf_token": csrf, "service": "registry.console", "region": "us-south",
        "url": "http://127.0.0.1:5999", "tls_verify": "1", "trust": "jwks"})
    assert r.status_code == 200 and "registry.console" in r.text
    listed = world.api.get("/v1/registries/registry.console", headers=world.admin).json()
    assert listed["trust"] == "jwks" and listed["delete_enabled"] is False
    reader = world.browser()
    reader_csrf = sign_in(reader, apikey=world.reader_key)
    page = reader.get("/console/operator/registries")
    assert page.status_code == 200 and "registry.console" in page.text
    assert "Add a registry" not in page.text and "CA file" not in page.text
    r = reader.post("/console/operator/registries/registry.console/delete",
                    data={"csrf_token": reader_csrf})
    assert r.status_code == 403 and "only the system operator" in alerts(r.text)
    r = browser.post("/console/operator/registries/registry.console/delete",
                     data={"csrf_token": csrf})
    assert r.status_code == 200 and "registry.console" not in r.text


# -- users --------------------------------------------------------------------------------

def _user(world: World, name: str) -> str:
    r = world.api.post("/v1/users", json={"name": name, "password": PASSWORD},
                       headers=world.admin)
    r.raise_for_status()
    return str(r.json()["iam_id"])


def test_a_user_is_locked_from_its_page_and_then_neither_renamed_nor_deleted(
        world: World) -> None:
    iam_id = _user(world, "carol")
    page_url = f"/console/users/{iam_id}"
    browser, csrf = owner_browser(world)
    page = browser.get(page_url)
    assert f'action="{page_url}/lock"' in page.text and f'action="{page_url}/delete"' in page.text
    r = browser.post(f"{page_url}/lock", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == page_url
    page = browser.get(page_url)
    assert "locked (protected from change and deletion)" in page.text
    assert f'action="{page_url}/unlock"' in page.text
    assert f'action="{page_url}/delete"' not in page.text and "Rename" not in page.text
    forged = browser.post(f"{page_url}/delete", data={"csrf_token": csrf})
    assert forged.status_code == 409 and "unlock it" in alerts(forged.text)
    assert world.api.get(f"/v1/users/{iam_id}", headers=world.admin).json()["locked"] is True
    r = browser.post(f"{page_url}/unlock", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert world.api.get(f"/v1/users/{iam_id}", headers=world.admin).json()["locked"] is False


def test_a_user_is_renamed_from_its_page(world: World) -> None:
    iam_id = _user(world, "dave")
    page_url = f"/console/users/{iam_id}"
    browser, csrf = owner_browser(world)
    tag = re.search(r'name="entity_tag" value="([^"]+)"', browser.get(page_url).text)
    assert tag is not None
    r = browser.post(f"{page_url}/update", data={"csrf_token": csrf, "name": "david",
                                                 "entity_tag": tag.group(1)})
    assert r.status_code == 200 and "User david" in r.text
    assert world.api.get(f"/v1/users/{iam_id}", headers=world.admin).json()["name"] == "david"
    stale = browser.post(f"{page_url}/update", data={"csrf_token": csrf, "name": "dave",
                                                     "entity_tag": tag.group(1)})
    assert stale.status_code == 412 and "fetch it again" in alerts(stale.text)


def test_a_user_without_user_update_sees_only_its_password_form(world: World) -> None:
    """alice holds no policy: on her own page, no lock, rename or delete; her password."""
    browser = world.browser()
    sign_in(browser, username="alice", password=PASSWORD)
    page = browser.get(f"/console/users/{world.alice_iam_id}")
    assert page.status_code == 200
    assert "Change your password" in page.text
    for absent in ("/lock\"", "/unlock\"", "/delete\"", "Rename"):
        assert absent not in page.text, absent
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    forged = browser.post(f"/console/users/{world.alice_iam_id}/lock",
                          data={"csrf_token": csrf.group(1)})
    assert forged.status_code == 403 and "iam-identity.user.update" in alerts(forged.text)


# -- a policy's roles, changed in place ---------------------------------------------------

def _robot(world: World, name: str, *policies: tuple[list[str], dict[str, str]]) -> dict[str, str]:
    """A service ID with policies (roles, resource) and a key: {iam_id, apikey, policy ids}."""
    sid = world.api.post("/v1/serviceids", json={"name": name}, headers=world.admin).json()
    made = {"iam_id": sid["iam_id"]}
    for i, (roles, resource) in enumerate(policies):
        r = world.api.post("/v1/policies", headers=world.admin, json={
            "subject": {"iam_id": sid["iam_id"]}, "roles": roles, "resource": resource})
        r.raise_for_status()
        made[f"policy{i}"] = r.json()["id"]
    made["apikey"] = world.api.post("/v1/apikeys", headers=world.admin, json={
        "name": "k", "iam_id": sid["iam_id"]}).json()["apikey"]
    return made


TEAM_A = {"service": "container-registry", "region": "us-south", "resource_type": "namespace",
          "resource": "team-a"}
EVERY_NAMESPACE = {"service": "container-registry"}


def _policy(world: World, policy_id: str) -> dict[str, object]:
    r = world.api.get(f"/v1/policies/{policy_id}", headers=world.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_policys_roles_are_changed_in_place_from_its_subjects_page(world: World) -> None:
    robot = _robot(world, "edit-robot", (["Reader"], TEAM_A))
    policy_id = robot["policy0"]
    browser, csrf = owner_browser(world)
    page = browser.get(f"/console/serviceids/{robot['iam_id']}").text
    form = page.split(f'action="/console/policies/{policy_id}/update"', 1)[1].split("</form>")[0]
    assert re.search(rf'id="edit-{policy_id}-Reader"[^>]* checked', form)
    assert not re.search(rf'id="edit-{policy_id}-Writer"[^>]* checked', form)
    assert "<strong>Writer</strong>" in form  # each role with its description, as on create
    tag = _policy(world, policy_id)["entity_tag"]
    r = browser.post(f"/console/policies/{policy_id}/update", follow_redirects=False, data={
        "csrf_token": csrf, "entity_tag": tag, "roles": ["Reader", "Writer"]})
    assert r.status_code == 303 and r.headers["location"].endswith(robot["iam_id"])
    changed = _policy(world, policy_id)
    assert changed["roles"] == ["Reader", "Writer"] and changed["resource"] == TEAM_A
    page = browser.get(r.headers["location"]).text
    row = page.split(f'action="/console/policies/{policy_id}/update"')[0].rsplit("<tr>", 1)[1]
    assert "Reader, Writer" in row and "docker push" in row  # what they now allow
    stale = browser.post(f"/console/policies/{policy_id}/update", data={
        "csrf_token": csrf, "entity_tag": tag, "roles": ["Manager"]})
    assert stale.status_code == 412 and "fetch it again" in alerts(stale.text)
    assert _policy(world, policy_id)["roles"] == ["Reader", "Writer"]


def test_a_policy_left_without_roles_is_refused_beside_its_check_boxes(world: World) -> None:
    robot = _robot(world, "empty-robot", (["Reader"], TEAM_A))
    policy_id = robot["policy0"]
    browser, csrf = owner_browser(world)
    tag = _policy(world, policy_id)["entity_tag"]
    r = browser.post(f"/console/policies/{policy_id}/update",
                     data={"csrf_token": csrf, "entity_tag": tag})
    assert r.status_code == 400
    assert field_errors(r.text) == ["a policy needs at least one role"]
    assert f'aria-describedby="edit-{policy_id}-error"' in r.text
    assert f'id="edit-{policy_id}-error"' in r.text and "<details open>" in r.text
    assert _policy(world, policy_id)["roles"] == ["Reader"]


def test_a_visitor_cannot_raise_a_policy_above_what_it_may_grant_through_the_form(
        world: World) -> None:
    """Administrator on team-a, Reader on every namespace: it may change its team-a policy,
    not raise its every-namespace Reader to Administrator (the API's rule refuses)."""
    robot = _robot(world, "team-a-admin", (["Administrator"], TEAM_A),
                   (["Reader"], EVERY_NAMESPACE), (["Viewer"], {"service": "iam-identity"}))
    browser = world.browser()
    csrf = sign_in(browser, apikey=robot["apikey"])
    page = browser.get(f"/console/serviceids/{robot['iam_id']}").text
    assert f'action="/console/policies/{robot["policy0"]}/update"' in page
    assert f'action="/console/policies/{robot["policy1"]}/update"' not in page
    assert f'action="/console/policies/{robot["policy2"]}/update"' not in page
    tag = _policy(world, robot["policy1"])["entity_tag"]
    r = browser.post(f"/console/policies/{robot['policy1']}/update", data={
        "csrf_token": csrf, "entity_tag": tag, "roles": ["Administrator"]})
    assert r.status_code == 403
    assert "missing action container-registry.policy.manage" in alerts(r.text)
    assert _policy(world, robot["policy1"])["roles"] == ["Reader"]


# -- namespaces, a page at a time ---------------------------------------------------------

NAMESPACE_ROW = re.compile(r'<tr><td><a href="/console/images\?[^"]*">([^<]+)</a></td>'
                           r'<td>([^<]*)</td>')


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_the_namespaces_page_pages_through_the_api_with_next_and_previous_links(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from iam.console.routes import namespaces as console_namespaces

    for name in ("page-one", "page-two", "page-three"):
        world.api.put(f"/v1/namespaces/{name}", params={"region": "us-south"},
                      headers=world.admin).raise_for_status()
    expected = [(n["name"], n["region"]) for n in world.api.get(
        "/v1/namespaces", params={"counts": "false", "limit": 1000},
        headers=world.admin).json()["data"]]
    assert len(expected) >= 4
    monkeypatch.setattr(console_namespaces, "PAGE", 2)
    browser, _ = owner_browser(world)
    pages_seen: list[list[tuple[str, str]]] = []
    url: str | None = "/console/namespaces"
    while url is not None:
        page = browser.get(url)
        assert page.status_code == 200
        pages_seen.append(NAMESPACE_ROW.findall(page.text))
        assert f"of {len(expected)} shown" in page.text
        assert (_link(page.text, "prev") is None) == (len(pages_seen) == 1)
        url = _link(page.text, "next")
    assert [row for rows in pages_seen for row in rows] == expected
    assert all(len(rows) == 2 for rows in pages_seen[:-1])
    back: list[list[tuple[str, str]]] = [NAMESPACE_ROW.findall(page.text)]
    while (url := _link(page.text, "prev")) is not None:
        page = browser.get(url)
        back.append(NAMESPACE_ROW.findall(page.text))
    assert back == pages_seen[::-1]


def test_a_groups_members_page_with_next_and_previous_links(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from iam.console import group_page

    group = world.api.post("/v1/groups", json={"name": "paged-group"},
                           headers=world.admin).json()["id"]
    members = sorted([world.reader_iam_id, world.alice_iam_id])
    for iam_id in members:
        world.api.post(f"/v1/groups/{group}/members", json={"iam_id": iam_id},
                       headers=world.admin).raise_for_status()
    monkeypatch.setattr(group_page, "PAGE", 1)
    browser, _ = owner_browser(world)
    first = browser.get(f"/console/groups/{group}").text
    assert members[0] in first and members[1] not in first and "1 of 2 shown" in first
    assert _link(first, "prev") is None
    second_url = _link(first, "next")
    assert second_url is not None
    second = browser.get(second_url).text
    assert members[1] in second and members[0] not in second and _link(second, "next") is None
    back = _link(second, "prev")
    assert back is not None and members[0] in browser.get(back).text
