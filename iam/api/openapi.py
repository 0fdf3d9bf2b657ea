"""OpenAPI entries for the two token endpoints, which are served ahead of FastAPI's router
(`iam.api.app.RegistryIAM`) and so are not routes FastAPI could describe itself."""

from __future__ import annotations

from typing import Any

from iam.api.schemas import IdentityToken

_TEXT = {"type": "string"}
_REGISTRY_ERROR = {"type": "object", "required": ["errors"], "properties": {
    "errors": {"type": "array", "items": {"type": "object", "required": ["code", "message"],
                                          "properties": {"code": _TEXT, "message": _TEXT}}}}}
_OAUTH_ERROR = {"type": "object", "required": ["error"],
                "properties": {"error": _TEXT, "error_description": _TEXT}}
_REGISTRY_TOKEN = {"type": "object", "required": ["token", "access_token", "expires_in"],
                   "properties": {"token": _TEXT, "access_token": _TEXT,
                                  "expires_in": {"type": "integer"}, "issued_at": _TEXT,
                                  "refresh_token": _TEXT}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, max_length: int, description: str, *, many: bool = False
           ) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length}
    if many:
        schema = {"type": "array", "items": schema}
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_TOKEN_RESPONSES: dict[str, Any] = {
    "200": _json(_REGISTRY_TOKEN, "a signed registry token"),
    "400": _json(_REGISTRY_ERROR, "unknown service or grant, or bad scope"),
    "401": _json(_REGISTRY_ERROR, "bad credentials (the same answer whatever the cause)"),
    "413": {"description": "body too large"},
    "429": _json(_REGISTRY_ERROR, "too many failed attempts; see Retry-After"),
    "503": {"description": "database down"},
}
_TOKEN_FORM = ("grant_type", "refresh_token", "username", "password", "access_type", "service",
               "client_id")

REGISTRY_TOKEN: dict[str, Any] = {
    "get": {
        "tags": ["registry"], "operationId": "read_registry_token",
        "summary": "Docker token",
        "description": "The Docker token protocol: HTTP Basic with `iamapikey` and an API key, "
                       "`iambearer` and an access token, or a user and password; no scope for "
                       "a login. Every requested scope is in the answer, with no actions when "
                       "nothing is granted.",
        "parameters": [
            _query("service", 256, "the registry's `service` (required)"),
            _query("scope", 4096, "`repository:<namespace>/<name>:pull,push`...", many=True),
            _query("offline_token", 8, "`true`: also return a refresh token"),
            _query("account", 256, "ignored (docker sends the user name)"),
            _query("client_id", 256, "ignored (the client's name)"),
        ],
        "responses": _TOKEN_RESPONSES,
    },
    "post": {
        "tags": ["registry"], "operationId": "create_registry_token",
        "summary": "Docker token, OAuth2 form",
        "description": "What docker sends after `docker login`: `grant_type=refresh_token` "
                       "with the refresh token the login returned, or `grant_type=password` "
                       "(with `access_type=offline` for a refresh token); `service`, `scope` "
                       "repeated or space-separated.",
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "properties": {
                **{f: {"type": "string", "maxLength": 8192} for f in _TOKEN_FORM},
                "scope": {"type": "array",
                          "items": {"type": "string", "maxLength": 8192}}}}}}},
        "responses": _TOKEN_RESPONSES,
    },
}

_FORM_FIELDS = ("grant_type", "apikey", "username", "password", "refresh_token", "account")
IDENTITY_TOKEN = {"post": {
    "tags": ["identity"], "operationId": "create_identity_token",
    "summary": "IAM access token",
    "description": "IBM-style IAM token: `grant_type=urn:ibm:params:oauth:grant-type:apikey` "
                   "with `apikey`, `password` with `username`, `password` (and `account` when "
                   "the name exists in several), or `refresh_token`.",
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
        "schema": {"type": "object", "properties": {f: _TEXT for f in _FORM_FIELDS}}}}},
    "responses": {
        "200": _json({"$ref": "#/components/schemas/IdentityToken"}, "an access token pair"),
        "400": _json(_OAUTH_ERROR, "RFC 6749 error"),
        "413": {"description": "body too large"},
        "429": {"description": "too many failed attempts; see Retry-After"},
        "503": {"description": "database down"},
    },
}}


def add_token_endpoints(schema: dict[str, Any]) -> None:
    paths = schema.setdefault("paths", {})
    paths.setdefault("/token", {}).update(REGISTRY_TOKEN)  # POST /token is a FastAPI route
    paths["/identity/token"] = IDENTITY_TOKEN
    schema.setdefault("components", {}).setdefault("schemas", {})["IdentityToken"] = (
        IdentityToken.model_json_schema())
