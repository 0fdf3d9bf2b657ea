"""Issuer keys: fetched within bounds, cached, re-fetched on rotation at most once per
interval, and kept while the issuer is down until they expire. Against the real Node issuer
and, for the bounds, a real HTTP server on the loopback that misbehaves on purpose."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from iam.errors import WorkloadTokenRefused
from iam.federation.issuer_keys import IssuerKeys
from iam.federation.issuers import IssuerRecord
from iam.federation.key_fetch import FetchFailed, discover_jwks, fetch_json
from tests.federation_env import FAST_KEYS, World, eq, federation_world, granted
from tests.oidc_env import AUDIENCE, Issuer, header_of, running_issuers, stop

PUSH = "repository:team-a/web:push,pull"


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # the keys are cached per process, whatever the database: one backend
    with federation_world(request, tmp_path_factory.mktemp("keys"), "sqlite") as w:
        yield w


@pytest.fixture(scope="module")
def issuer(world: World) -> Iterator[Issuer]:
    with running_issuers(1) as ([found], _process):
        world.register(found.url)
        world.profile("rotating", found.url, [eq("repository", "acme/rotating")])
        yield found


def _record(url: str) -> IssuerRecord:
    return IssuerRecord(id="Issuer-test", account_id="acct", url=url, audiences=(AUDIENCE,),
                        algorithms=("RS256", "ES256"), jwks=None, allow_http=True,
                        max_token_age=3600, entity_tag="t")


def test_rotated_key_is_fetched_and_tokens_keep_working(world: World, issuer: Issuer) -> None:
    before = issuer.github(repository="acme/rotating")
    assert granted(world.registry_token("iamprofile/rotating", before, PUSH)) == [
        ["push", "pull"]]
    new_kid = issuer.rotate()
    time.sleep(FAST_KEYS["issuer_refetch_interval"] + 0.1)
    after = issuer.mint({"aud": AUDIENCE, "sub": "repo:acme/rotating:ref:refs/heads/main",
                         "repository": "acme/rotating"}, kid=new_kid)
    assert header_of(after)["kid"] == new_kid
    assert granted(world.registry_token("iamprofile/rotating", after, PUSH)) == [
        ["push", "pull"]]
    assert world.registry_token("iamprofile/rotating", before, PUSH).status_code == 200


def test_unknown_kids_cause_at_most_one_fetch_per_interval(issuer: Issuer) -> None:
    fetched: list[str] = []

    def counting(url: str, allow_http: bool, timeout: float) -> Any:
        fetched.append(url)
        return discover_jwks(url, allow_http=allow_http, timeout=timeout)

    keys = IssuerKeys(refresh_after=60, max_age=120, refetch_interval=30, timeout=2,
                      fetch=counting)
    record = _record(issuer.url)
    kid = header_of(issuer.github())["kid"]
    assert keys.key_for(record, kid, may_fetch=True).key_id == kid
    for n in range(50):
        with pytest.raises(WorkloadTokenRefused, match="is not one of issuer"):
            keys.key_for(record, f"made-up-{n}", may_fetch=True)
    assert len(fetched) == 1  # the first fetch; the made-up kids waited for the interval


def test_key_fetch_due_on_the_event_loop_asks_for_a_worker_thread(issuer: Issuer) -> None:
    from iam.store.generation_cache import NeedsDatabase

    keys = IssuerKeys(refresh_after=60, max_age=120, refetch_interval=30, timeout=2)
    with pytest.raises(NeedsDatabase):
        keys.key_for(_record(issuer.url), "any", may_fetch=False)


def test_stopped_issuer_keeps_working_on_cached_keys_until_they_expire(world: World) -> None:
    with running_issuers(1) as ([down], process):
        world.register(down.url)
        world.profile("outage", down.url, [eq("repository", "acme/outage")])
        first, second, third = (down.github(repository="acme/outage") for _ in range(3))
        assert world.registry_token("iamprofile/outage", first, PUSH).status_code == 200
        fetched_by = time.monotonic()  # the keys were fetched during that request
        stop(process)
    time.sleep(FAST_KEYS["issuer_keys_refresh"] + 0.2)
    stale = world.registry_token("iamprofile/outage", second, PUSH)
    assert stale.status_code == 200, stale.text  # due for refresh, unreachable: cached keys
    assert stale.json()["expires_in"] <= FAST_KEYS["issuer_keys_max_age"]  # ends with them
    time.sleep(max(0.0, fetched_by + FAST_KEYS["issuer_keys_max_age"] + 0.2 - time.monotonic()))
    for token in (third, first):  # a new token, and one whose decision was cached
        r = world.registry_token("iamprofile/outage", token, PUSH)
        assert r.status_code == 401
        message = r.json()["errors"][0]["message"]
        assert "cannot be fetched" in message and "none cached is still valid" in message


# --- fetch bounds, against a server that misbehaves -------------------------------------------

class Misbehaving(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        if self.path.startswith("/big"):
            self._json({"keys": [], "padding": "x" * (300 * 1024)})
        elif self.path.startswith("/elsewhere"):
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/jwks")
            self.end_headers()
        elif self.path.startswith("/slow"):
            time.sleep(2)
            self._json({})
        elif self.path.startswith("/impostor"):
            self._json({"issuer": "https://someone.else", "jwks_uri": f"http://127.0.0.1:{port}/"})
        else:
            self._json({"keys": []})

    def _json(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hung up on purpose (size bound, timeout)


@pytest.fixture(scope="module")
def misbehaving() -> Iterator[str]:
    server = QuietServer(("127.0.0.1", 0), Misbehaving)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_refuses_a_document_over_the_size_bound(misbehaving: str) -> None:
    with pytest.raises(FetchFailed, match="more than 262144 bytes"):
        fetch_json(f"{misbehaving}/big", allow_http=True, timeout=2)


def test_fetch_follows_no_redirect_to_another_host(misbehaving: str) -> None:
    with pytest.raises(FetchFailed, match="redirects to another host"):
        fetch_json(f"{misbehaving}/elsewhere", allow_http=True, timeout=2)


def test_fetch_gives_up_at_its_timeout(misbehaving: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="could not be fetched"):
        fetch_json(f"{misbehaving}/slow", allow_http=True, timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_fetch_over_plain_http_needs_the_opt_out(misbehaving: str) -> None:
    with pytest.raises(FetchFailed, match="plain http"):
        fetch_json(f"{misbehaving}/jwks", allow_http=False, timeout=2)


def test_discovery_naming_another_issuer_is_refused(misbehaving: str) -> None:
    with pytest.raises(FetchFailed, match="names another issuer"):
        discover_jwks(f"{misbehaving}/impostor", allow_http=True, timeout=2)


def test_settings_refuse_keys_that_expire_before_their_refresh() -> None:
    from iam.config import load_settings
    from iam.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="IAM_ISSUER_KEYS_MAX_AGE must be at least"):
        load_settings(issuer_keys_refresh=600, issuer_keys_max_age=60)
