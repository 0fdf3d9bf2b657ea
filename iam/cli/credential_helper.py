"""`docker-credential-iam`: a docker credential helper, so docker, skopeo and podman keep no
API key in their configuration (`credHelpers: {"<registry>": "iam"}`).

The protocol (docker-credential-helpers): the command on argv[1], its input on standard
input, its answer on standard output.
- `store` ({"ServerURL", "Username", "Secret"}): what `docker login` checked, kept in this
  helper's own file (mode 0600; `$IAM_CREDENTIALS_FILE`, default
  `~/.config/registry-iam/docker-credentials.json`) with the token service's URL, found in
  the registry's challenge (or `$IAM_ENDPOINT`).
- `get` (the server URL): an *identity token*: `{"Username": "<token>", "Secret": <refresh
  token>}` for a stored API key (exchanged at `/identity/token` each time; the client then
  asks the registry's realm for registry tokens with it), the stored refresh token as is,
  or for a workload (`configure --token-file F | --token-env VAR`) `iambearer` and a
  trusted profile's access token made from the workload's current OIDC token.
- `erase` (the server URL), `list` ({URL: Username}).
- `configure SERVER --endpoint URL (--apikey-file F | --token-file F | --token-env VAR)
  [--profile NAME]`: store without `docker login` (skopeo, podman, CI).
Unknown servers: exit 1 with `credentials not found in native keychain`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx

from iam.store.files import user_config_file, write_private_file

NOT_FOUND = "credentials not found in native keychain"
APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
CR_TOKEN_GRANT = "urn:ibm:params:oauth:grant-type:cr-token"  # noqa: S105 (a grant name)
IDENTITY_TOKEN_USER = "<token>"  # noqa: S105 (docker's marker)
_REALM = re.compile(r'realm="([^"]+)"')


class HelperError(Exception):
    """Raised when the helper cannot answer; printed on standard output, exit 1."""


def store_path() -> Path:
    return user_config_file("docker-credentials.json", override="IAM_CREDENTIALS_FILE")


def load() -> dict[str, Any]:
    path = store_path()
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def save(entries: dict[str, Any]) -> None:
    write_private_file(store_path(), json.dumps(entries, indent=2).encode())


def server_key(url: str) -> str:
    """`https://reg.example:5000/v2/` and `reg.example:5000` are one server."""
    url = url.strip()
    if "://" in url:
        url = url.split("://", 1)[1]
    return url.split("/", 1)[0]


def discover_endpoint(server: str) -> str:
    """The token service behind a registry: `$IAM_ENDPOINT`, or the realm of its challenge
    (`WWW-Authenticate: Bearer realm=".../token"`), https first."""
    explicit = os.environ.get("IAM_ENDPOINT")
    if explicit:
        return explicit.rstrip("/")
    for scheme in ("https", "http"):
        try:
            r = httpx.get(f"{scheme}://{server}/v2/", timeout=10)
        except httpx.HTTPError:
            continue
        match = _REALM.search(r.headers.get("www-authenticate", ""))
        if match:
            realm = match.group(1)
            return realm[: -len("/token")] if realm.endswith("/token") else realm
    raise HelperError(f"cannot find the token service of {server}; set IAM_ENDPOINT")


def _exchange(endpoint: str, form: dict[str, str]) -> dict[str, Any]:
    try:
        r = httpx.post(f"{endpoint}/identity/token", data=form, timeout=30)
    except httpx.HTTPError as exc:
        raise HelperError(f"cannot reach {endpoint}: {type(exc).__name__}") from None
    if r.status_code != 200:
        try:
            why = r.json().get("error_description", r.text)
        except ValueError:
            why = r.text
        raise HelperError(f"{endpoint} refused the credentials: {str(why)[:300]}")
    body: dict[str, Any] = r.json()
    return body


def _workload_token(entry: dict[str, Any]) -> str:
    if entry.get("token_file"):
        try:
            return Path(entry["token_file"]).read_text().strip()
        except OSError as exc:
            raise HelperError(f"cannot read {entry['token_file']}: {exc.strerror}") from None
    value = os.environ.get(str(entry.get("token_env")), "")
    if not value:
        raise HelperError(f"${entry.get('token_env')} holds no workload token")
    return value.strip()


def credentials(server: str, entry: dict[str, Any]) -> dict[str, str]:
    """What `get` answers for one stored entry."""
    kind = entry.get("kind")
    if kind == "apikey":
        body = _exchange(entry["endpoint"], {"grant_type": APIKEY_GRANT,
                                             "apikey": entry["apikey"]})
        return {"ServerURL": server, "Username": IDENTITY_TOKEN_USER,
                "Secret": body["refresh_token"]}
    if kind == "workload":
        form = {"grant_type": CR_TOKEN_GRANT, "cr_token": _workload_token(entry)}
        if entry.get("profile"):
            form["profile_name"] = entry["profile"]
        body = _exchange(entry["endpoint"], form)
        return {"ServerURL": server, "Username": "iambearer", "Secret": body["access_token"]}
    return {"ServerURL": server, "Username": entry["username"], "Secret": entry["secret"]}


def store(payload: dict[str, Any]) -> None:
    server = server_key(str(payload["ServerURL"]))
    username, secret = str(payload.get("Username", "")), str(payload.get("Secret", ""))
    entries = load()
    if username == "iamapikey":
        entries[server] = {"kind": "apikey", "endpoint": discover_endpoint(server),
                           "apikey": secret}
    else:  # an identity (refresh) token docker got at login, or another login as is
        entries[server] = {"kind": "plain", "username": username, "secret": secret}
    save(entries)


def configure(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="docker-credential-iam configure")
    parser.add_argument("server")
    parser.add_argument("--endpoint", help="the token service's URL (default: discovered)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--apikey-file", type=Path)
    source.add_argument("--token-file", help="a file holding the workload's OIDC token")
    source.add_argument("--token-env", help="a variable holding the workload's OIDC token")
    parser.add_argument("--profile", help="the trusted profile to become (workload tokens)")
    args = parser.parse_args(argv)
    server = server_key(args.server)
    endpoint = (args.endpoint or discover_endpoint(server)).rstrip("/")
    entry: dict[str, Any]
    if args.apikey_file is not None:
        text = args.apikey_file.read_text().strip()
        apikey = json.loads(text)["apikey"] if text.startswith("{") else text
        entry = {"kind": "apikey", "endpoint": endpoint, "apikey": apikey}
    else:
        entry = {"kind": "workload", "endpoint": endpoint, "token_file": args.token_file,
                 "token_env": args.token_env, "profile": args.profile}
    entries = load()
    entries[server] = entry
    save(entries)
    print(f"{server}: credentials kept in {store_path()} (mode 0600)")


def run(command: str, stdin: str) -> str:
    if command == "store":
        store(json.loads(stdin))
        return ""
    if command == "get":
        server = server_key(stdin)
        entry = load().get(server)
        if entry is None:
            raise HelperError(NOT_FOUND)
        return json.dumps(credentials(server, entry))
    if command == "erase":
        entries = load()
        if entries.pop(server_key(stdin), None) is None:
            raise HelperError(NOT_FOUND)
        save(entries)
        return ""
    if command == "list":
        return json.dumps({server: (entry.get("username") or
                                    ("iamapikey" if entry.get("kind") == "apikey"
                                     else "iamprofile"))
                           for server, entry in load().items()})
    if command == "version":
        return "docker-credential-iam (registry-iam)"
    raise HelperError(f"unknown command {command!r}: use get, store, erase, list or configure")


def main() -> None:
    if len(sys.argv) < 2:
        print("usage: docker-credential-iam get|store|erase|list|configure", file=sys.stderr)
        sys.exit(2)
    try:
        if sys.argv[1] == "configure":
            configure(sys.argv[2:])
            return
        answer = run(sys.argv[1], sys.stdin.read().strip() if sys.argv[1] != "list" else "")
    except HelperError as exc:
        print(exc)
        sys.exit(1)
    if answer:
        print(answer)
