"""`POST /identity/token` (API key, password, refresh token) and bearer-token checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from iam.config import Settings
from iam.identity import apikey_format
from iam.tokens import signing
from tests.conftest import Owner, bearer

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
INVALID_GRANT = {"error": "invalid_grant", "error_description": "the credentials are not valid"}
PASSWORD = "correct horse battery"


def token(client: TestClient, **form: str) -> Any:
    return client.post("/identity/token", data=form)


def exchange(client: TestClient, apikey: str) -> Any:
    return token(client, grant_type=APIKEY_GRANT, apikey=apikey)


def new_key(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    """A service ID with one key; the answer of the key creation (carries `apikey`)."""
    sid = client.post("/v1/serviceids", json={"name": "robot"}, headers=admin)
    assert sid.status_code == 201, sid.text
    r = client.post("/v1/apikeys", json={"name": "k", "iam_id": sid.json()["iam_id"]},
                    headers=admin)
    assert r.status_code == 201, r.text
    return dict(r.json())


def new_user(client: TestClient, admin: dict[str, str], name: str = "alice") -> dict[str, Any]:
    r = client.post("/v1/users", json={"name": name, "password": PASSWORD}, headers=admin)
    assert r.status_code == 201, r.text
    return dict(r.json())


def unauthorized_errors(r: Any) -> Any:
    assert r.status_code == 401, r.text
    return r.json()["errors"]


@pytest.fixture
def reference_401(client: TestClient) -> Any:
    """What an admin call without any credential gets: every token failure must match it."""
    return unauthorized_errors(client.get("/v1/serviceids"))


# --- API key grant -------------------------------------------------------------------------

def test_apikey_grant_returns_a_bearer_token_pair(client: TestClient, owner: Owner) -> None:
    r = exchange(client, owner.apikey)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["expiration"] > time.time()
    assert body["access_token"] != body["refresh_token"]
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"] == "application/json"
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in",
                         "expiration"}


def test_apikey_grant_token_opens_the_admin_api(client: TestClient, owner: Owner) -> None:
    r = client.get("/v1/serviceids", headers=bearer(client, owner.apikey))
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 1


def test_token_without_grant_type_is_invalid_request(client: TestClient, owner: Owner) -> None:
    r = token(client, apikey=owner.apikey)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_token_with_unknown_grant_type_is_unsupported(client: TestClient, owner: Owner) -> None:
    r = token(client, grant_type="client_credentials", apikey=owner.apikey)
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


def test_apikey_grant_without_apikey_is_invalid_request(client: TestClient) -> None:
    r = token(client, grant_type=APIKEY_GRANT)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_token_with_json_body_is_invalid_request(client: TestClient, owner: Owner) -> None:
    r = client.post("/identity/token", json={"grant_type": APIKEY_GRANT, "apikey": owner.apikey})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


@pytest.mark.parametrize("bad", [
    "riam_" + "0" * 49,                       # bad checksum
    "not-a-key",                              # malformed
    "x" * 4096,                               # long garbage
    "unknown",                                # replaced by a well-formed, unknown key
])
def test_apikey_grant_with_bad_key_is_invalid_grant(client: TestClient, bad: str) -> None:
    value = apikey_format.generate() if bad == "unknown" else bad
    r = exchange(client, value)
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_apikey_grant_with_typo_in_real_key_is_invalid_grant(client: TestClient,
                                                             owner: Owner) -> None:
    typo = owner.apikey[:-1] + ("A" if owner.apikey[-1] != "A" else "B")
    r = exchange(client, typo)
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_apikey_grant_with_disabled_key_is_invalid_grant(client: TestClient,
                                                         admin: dict[str, str]) -> None:
    key = new_key(client, admin)
    assert client.post(f"/v1/apikeys/{key['id']}/disable", headers=admin).status_code == 200
    r = exchange(client, key["apikey"])
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_apikey_grant_with_deleted_key_is_invalid_grant(client: TestClient,
                                                        admin: dict[str, str]) -> None:
    key = new_key(client, admin)
    assert client.delete(f"/v1/apikeys/{key['id']}", headers=admin).status_code == 204
    r = exchange(client, key["apikey"])
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_apikey_grant_with_expired_key_is_invalid_grant(client: TestClient,
                                                        admin: dict[str, str]) -> None:
    sid = client.post("/v1/serviceids", json={"name": "short"}, headers=admin).json()
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
    r = client.post("/v1/apikeys", json={"name": "k", "iam_id": sid["iam_id"],
                                         "expires_at": soon}, headers=admin)
    assert r.status_code == 201, r.text
    time.sleep(2.2)
    r = exchange(client, r.json()["apikey"])
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


# --- password grant ------------------------------------------------------------------------

def test_password_grant_returns_a_token_pair(client: TestClient, admin: dict[str, str]) -> None:
    user = new_user(client, admin)
    r = token(client, grant_type="password", username="alice", password=PASSWORD)
    assert r.status_code == 200, r.text
    me = client.get(f"/v1/users/{user['iam_id']}",
                    headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "alice"


def test_password_grant_with_wrong_password_is_invalid_grant(client: TestClient,
                                                             admin: dict[str, str]) -> None:
    new_user(client, admin)
    r = token(client, grant_type="password", username="alice", password=PASSWORD + "x")
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_password_grant_with_unknown_user_is_invalid_grant(client: TestClient) -> None:
    r = token(client, grant_type="password", username="nobody", password=PASSWORD)
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_password_grant_without_password_is_invalid_request(client: TestClient,
                                                            admin: dict[str, str]) -> None:
    new_user(client, admin)
    r = token(client, grant_type="password", username="alice")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


# --- refresh token grant -------------------------------------------------------------------

def refresh(client: TestClient, refresh_token: str) -> Any:
    return token(client, grant_type="refresh_token", refresh_token=refresh_token)


def test_refresh_grant_returns_a_new_pair(client: TestClient, owner: Owner) -> None:
    first = exchange(client, owner.apikey).json()
    r = refresh(client, first["refresh_token"])
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["access_token"] != first["access_token"]
    headers = {"Authorization": f"Bearer {new['access_token']}"}
    assert client.get("/v1/serviceids", headers=headers).status_code == 200


def test_refresh_grant_with_access_token_is_invalid_grant(client: TestClient,
                                                          owner: Owner) -> None:
    pair = exchange(client, owner.apikey).json()
    r = refresh(client, pair["access_token"])
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_refresh_grant_with_garbage_is_invalid_grant(client: TestClient) -> None:
    r = refresh(client, "not.a.jwt")
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_refresh_grant_after_key_deleted_is_invalid_grant(client: TestClient,
                                                          admin: dict[str, str]) -> None:
    key = new_key(client, admin)
    pair = exchange(client, key["apikey"]).json()
    assert client.delete(f"/v1/apikeys/{key['id']}", headers=admin).status_code == 204
    r = refresh(client, pair["refresh_token"])
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_refresh_grant_after_key_disabled_is_invalid_grant(client: TestClient,
                                                           admin: dict[str, str]) -> None:
    key = new_key(client, admin)
    pair = exchange(client, key["apikey"]).json()
    assert client.post(f"/v1/apikeys/{key['id']}/disable", headers=admin).status_code == 200
    r = refresh(client, pair["refresh_token"])
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_refresh_grant_after_password_change_is_invalid_grant(client: TestClient,
                                                              admin: dict[str, str]) -> None:
    user = new_user(client, admin)
    pair = token(client, grant_type="password", username="alice", password=PASSWORD).json()
    r = client.put(f"/v1/users/{user['iam_id']}/password",
                   json={"password": "another good password"}, headers=admin)
    assert r.status_code == 204, r.text
    r = refresh(client, pair["refresh_token"])
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_refresh_grant_after_user_deleted_is_invalid_grant(client: TestClient,
                                                           admin: dict[str, str]) -> None:
    user = new_user(client, admin)
    pair = token(client, grant_type="password", username="alice", password=PASSWORD).json()
    assert client.delete(f"/v1/users/{user['iam_id']}", headers=admin).status_code == 204
    r = refresh(client, pair["refresh_token"])
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_access_token_after_password_change_is_refused(client: TestClient,
                                                       admin: dict[str, str]) -> None:
    user = new_user(client, admin)
    pair = token(client, grant_type="password", username="alice", password=PASSWORD).json()
    client.put(f"/v1/users/{user['iam_id']}/password",
               json={"password": "another good password"}, headers=admin)
    r = client.get(f"/v1/users/{user['iam_id']}",
                   headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert r.status_code == 401


# --- bearer tokens on admin calls ----------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token_value: str) -> dict[str, Any]:
    return dict(jwt.decode(token_value, options={"verify_signature": False}))


def _sign(settings: Settings, claims: dict[str, Any], **headers: Any) -> str:
    key = signing.load_keys(settings.keys_dir)[0]
    return jwt.encode(claims, key.private_key, algorithm=key.alg,  # type: ignore[arg-type]
                      headers={"kid": key.kid, **headers})


def _access(client: TestClient, owner: Owner) -> str:
    return str(exchange(client, owner.apikey).json()["access_token"])


def call(client: TestClient, token_value: str) -> Any:
    return client.get("/v1/serviceids", headers={"Authorization": f"Bearer {token_value}"})


def test_admin_call_without_token_is_401_with_challenge(client: TestClient) -> None:
    r = client.get("/v1/serviceids")
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_admin_call_with_tampered_token_is_401(client: TestClient, owner: Owner,
                                               reference_401: Any) -> None:
    header, payload, sig = _access(client, owner).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "iam-ServiceId-someone-else"
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{sig}"
    assert unauthorized_errors(call(client, forged)) == reference_401


def test_admin_call_with_tampered_signature_is_401(client: TestClient, owner: Owner,
                                                   reference_401: Any) -> None:
    header, payload, sig = _access(client, owner).split(".")
    bad = sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")
    assert unauthorized_errors(call(client, f"{header}.{payload}.{bad}")) == reference_401


def test_admin_call_with_expired_token_is_401(client: TestClient, owner: Owner,
                                              settings: Settings, reference_401: Any) -> None:
    claims = _claims(_access(client, owner))
    claims.update(iat=claims["iat"] - 7200, nbf=claims["nbf"] - 7200, exp=claims["iat"] - 3600)
    assert unauthorized_errors(call(client, _sign(settings, claims))) == reference_401


def test_admin_call_with_alg_none_is_401(client: TestClient, owner: Owner,
                                         reference_401: Any) -> None:
    access = _access(client, owner)
    kid = jwt.get_unverified_header(access)["kid"]
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    none_token = f"{header}.{access.split('.')[1]}."
    assert unauthorized_errors(call(client, none_token)) == reference_401


def test_admin_call_with_hs256_signed_by_public_key_is_401(client: TestClient, owner: Owner,
                                                           settings: Settings,
                                                           reference_401: Any) -> None:
    """The algorithm-confusion attack: HMAC keyed with the published public key."""
    key = signing.load_keys(settings.keys_dir)[0]
    claims = _claims(_access(client, owner))
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    body = _b64(json.dumps(claims).encode())
    pem = key.public_key.public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    sig = _b64(hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    assert unauthorized_errors(call(client, f"{header}.{body}.{sig}")) == reference_401


def test_admin_call_with_unknown_kid_is_401(client: TestClient, owner: Owner,
                                            settings: Settings, reference_401: Any) -> None:
    claims = _claims(_access(client, owner))
    forged = _sign(settings, claims, kid="AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ")
    assert unauthorized_errors(call(client, forged)) == reference_401


def test_admin_call_with_refresh_token_is_401(client: TestClient, owner: Owner,
                                              reference_401: Any) -> None:
    """A refresh token has the refresh audience: it is no access token."""
    refresh_token = exchange(client, owner.apikey).json()["refresh_token"]
    assert unauthorized_errors(call(client, refresh_token)) == reference_401


def test_admin_call_with_wrong_issuer_is_401(client: TestClient, owner: Owner,
                                             settings: Settings, reference_401: Any) -> None:
    claims = _claims(_access(client, owner))
    claims["iss"] = "someone-else"
    assert unauthorized_errors(call(client, _sign(settings, claims))) == reference_401


def test_admin_call_with_garbage_token_is_401(client: TestClient, reference_401: Any) -> None:
    assert unauthorized_errors(call(client, secrets.token_urlsafe(40))) == reference_401


def test_admin_call_after_key_deleted_is_401(client: TestClient, admin: dict[str, str],
                                             reference_401: Any) -> None:
    key = new_key(client, admin)
    access = exchange(client, key["apikey"]).json()["access_token"]
    assert client.delete(f"/v1/apikeys/{key['id']}", headers=admin).status_code == 204
    assert unauthorized_errors(call(client, access)) == reference_401


def test_apikey_grant_with_overlong_key_is_invalid_request(client: TestClient) -> None:
    """Errors of the token endpoint keep RFC 6749's shape, even for a 5000-character field."""
    r = exchange(client, "x" * 5000)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_password_grant_with_nul_in_username_is_invalid_grant(client: TestClient,
                                                              admin: dict[str, str]) -> None:
    new_user(client, admin)
    r = token(client, grant_type="password", username="ali\x00ce", password=PASSWORD)
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT


def test_password_grant_with_nul_in_account_is_invalid_grant(client: TestClient,
                                                             admin: dict[str, str]) -> None:
    new_user(client, admin)
    r = token(client, grant_type="password", username="alice", password=PASSWORD,
              account="\x00")
    assert r.status_code == 400
    assert r.json() == INVALID_GRANT
