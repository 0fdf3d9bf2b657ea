"""Identity commands, named like IBM's `ibmcloud iam`: login, service IDs, API keys, users."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from iam.cli.app import app
from iam.cli.client import (
    APIKEY_GRANT,
    DEFAULT_ENDPOINT,
    Api,
    Force,
    Format,
    OutputOpt,
    confirm_delete,
    done,
    emit,
    exchange,
    fail,
    read_secret_stdin,
    save_login,
)
from iam.cli.server import create_account_locally, print_new_account
from iam.store.files import write_private_file

SID_COLUMNS = ["id", "name", "description", "locked", "created_at"]
KEY_COLUMNS = ["id", "name", "iam_id", "locked", "disabled", "expires_at", "last_authn"]
USER_COLUMNS = ["iam_id", "name", "locked", "created_at"]
Description = Annotated[str | None, typer.Option("--description", "-d", help="Description")]


@app.command("login")
def login(
    apikey: Annotated[str | None, typer.Option(
        help="API key; '@FILE' reads it from a file, '-' from standard input "
             "(default: $IAM_API_KEY)")] = None,
    endpoint: Annotated[str, typer.Option(envvar="IAM_ENDPOINT",
                                          help="Base URL of the service")] = DEFAULT_ENDPOINT,
    output: OutputOpt = Format.table,
) -> None:
    """Exchange an API key for an access token and remember it (the key is not stored)."""
    value = apikey or os.environ.get("IAM_API_KEY")
    if value == "-":
        value = read_secret_stdin()
    elif value and value.startswith("@"):
        try:
            value = Path(value[1:]).read_text().strip()
        except OSError as exc:
            fail(f"cannot read {value[1:]}: {exc.strerror}")
    if not value:
        fail("give --apikey KEY (or @FILE, or -), or set IAM_API_KEY")
    endpoint = endpoint.rstrip("/")
    body = exchange(endpoint, {"grant_type": APIKEY_GRANT, "apikey": value})
    save_login({"endpoint": endpoint, "access_token": body["access_token"],
                "refresh_token": body["refresh_token"], "expiration": body["expiration"]})
    import jwt

    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    info = {"endpoint": endpoint, "iam_id": claims["sub"], "account_id": claims["account"]}
    if output == Format.json:
        emit(info, output)
    else:
        typer.echo(f"Logged in to {endpoint} as {info['iam_id']} "
                   f"(account {info['account_id']})")


@app.command("logout")
def logout(output: OutputOpt = Format.table) -> None:
    """Forget the stored tokens."""
    from iam.cli.client import config_path

    path = config_path()
    path.unlink(missing_ok=True)
    done({"logged_out": True, "login_file": str(path)}, output, "Logged out")


@app.command("account-create")
def account_create(
    name: str,
    local: Annotated[bool, typer.Option(
        help="Write to the local database (like init) instead of calling the server")] = False,
    output: OutputOpt = Format.table,
) -> None:
    """Create an account with its own owner service ID (system operator only)."""
    body = create_account_locally(name) if local else Api().post("/v1/accounts", {"name": name})
    print_new_account(body, output)


# --- service IDs -------------------------------------------------------------------------

def _sid_path(api: Api, ref: str) -> str:
    """A service ID by id (`ServiceId-...`), iam_id, or unique name."""
    if ref.startswith(("ServiceId-", "iam-ServiceId-")):
        return f"/v1/serviceids/{ref}"
    found = api.get_all("/v1/serviceids", name=ref)
    if len(found) != 1:
        fail(f"{len(found)} service IDs are named {ref!r}; use the ServiceId-... id")
    return f"/v1/serviceids/{found[0]['id']}"


@app.command("service-id-create")
def service_id_create(name: str, description: Description = None,
                      output: OutputOpt = Format.table) -> None:
    """Create a service ID."""
    emit(Api().post("/v1/serviceids", {"name": name, "description": description}), output,
         [*SID_COLUMNS, "iam_id"])


@app.command("service-ids")
def service_ids(output: OutputOpt = Format.table) -> None:
    """List the account's service IDs."""
    emit(Api().get_all("/v1/serviceids"), output, SID_COLUMNS)


@app.command("service-id")
def service_id(ref: str, output: OutputOpt = Format.table) -> None:
    """Show one service ID (by id or name)."""
    api = Api()
    emit(api.get(_sid_path(api, ref)), output, [*SID_COLUMNS, "iam_id", "entity_tag"])


@app.command("service-id-update")
def service_id_update(ref: str,
                      name: Annotated[str | None, typer.Option("--name", "-n")] = None,
                      description: Description = None,
                      output: OutputOpt = Format.table) -> None:
    """Rename or re-describe a service ID."""
    api = Api()
    path = _sid_path(api, ref)
    current = api.get(path)
    emit(api.put(path, {"name": name, "description": description},
                 if_match=current["entity_tag"]), output, SID_COLUMNS)


@app.command("service-id-delete")
def service_id_delete(ref: str, force: Force = False, output: OutputOpt = Format.table) -> None:
    """Delete a service ID with its API keys and policies."""
    api = Api()
    path = _sid_path(api, ref)
    confirm_delete(f"service ID {ref} with its API keys and policies", force)
    api.delete(path)
    done({"id": path.rsplit("/", 1)[1], "deleted": True}, output, f"Service ID {ref} deleted")


@app.command("service-id-lock")
def service_id_lock(ref: str, output: OutputOpt = Format.table) -> None:
    """Protect a service ID from change and deletion."""
    api = Api()
    emit(api.post(f"{_sid_path(api, ref)}/lock"), output, SID_COLUMNS)


@app.command("service-id-unlock")
def service_id_unlock(ref: str, output: OutputOpt = Format.table) -> None:
    """Allow changes and deletion of a service ID again."""
    api = Api()
    emit(api.delete(f"{_sid_path(api, ref)}/lock"), output, SID_COLUMNS)


# --- API keys ------------------------------------------------------------------------------

def _create_key(body: dict[str, Any], file: Path | None, output: Format) -> None:
    created = Api().post("/v1/apikeys", body)
    if file is not None:
        # The key alone on one line: what `docker login --password-stdin < FILE`, `skopeo
        # login --password-stdin < FILE` and `iam login --apikey @FILE` read. The metadata
        # is printed instead (`--output json` for a machine).
        write_private_file(file, (created["apikey"] + "\n").encode())
        created = {k: v for k, v in created.items() if k != "apikey"}
        created["saved_to"] = str(file)
    if output == Format.json:
        emit(created, output)
        return
    emit(created, output, ["id", "name", "iam_id", "expires_at"])
    if "apikey" in created:
        typer.echo(f"\nAPI key (shown once, store it now): {created['apikey']}")
    else:
        typer.echo(f"\nAPI key saved to {file} (mode 0600)")


ExpiresAt = Annotated[datetime | None, typer.Option(
    help="Expiry, ISO 8601 in UTC (e.g. 2027-01-01T00:00:00)")]
KeyFile = Annotated[Path | None, typer.Option(
    "--file", help="Save the key instead of printing it: the key alone on one line, mode "
                   "0600, for `docker login -u iamapikey --password-stdin < FILE` and "
                   "`iam login --apikey @FILE`; the metadata is printed")]


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


@app.command("service-api-key-create")
def service_api_key_create(name: str, service_id: str, description: Description = None,
                           file: KeyFile = None, expires_at: ExpiresAt = None,
                           output: OutputOpt = Format.table) -> None:
    """Create an API key for a service ID (by id or name)."""
    api = Api()
    iam_id = api.get(_sid_path(api, service_id))["iam_id"]
    _create_key({"name": name, "iam_id": iam_id, "description": description,
                 "expires_at": _utc(expires_at)}, file, output)


@app.command("service-api-keys")
def service_api_keys(service_id: str, output: OutputOpt = Format.table) -> None:
    """List a service ID's API keys (metadata only)."""
    api = Api()
    iam_id = api.get(_sid_path(api, service_id))["iam_id"]
    emit(api.get_all("/v1/apikeys", iam_id=iam_id), output, KEY_COLUMNS)


@app.command("api-key-create")
def api_key_create(name: str, description: Description = None, file: KeyFile = None,
                   expires_at: ExpiresAt = None, output: OutputOpt = Format.table) -> None:
    """Create an API key for yourself (a user)."""
    _create_key({"name": name, "description": description, "expires_at": _utc(expires_at)},
                file, output)


@app.command("api-keys")
def api_keys(output: OutputOpt = Format.table) -> None:
    """List your own API keys."""
    api = Api()
    import jwt

    me = jwt.decode(api.login["access_token"], options={"verify_signature": False})["sub"]
    emit(api.get_all("/v1/apikeys", iam_id=me), output, KEY_COLUMNS)


def _key_command(name: str, verb: str, path_suffix: str, help_text: str) -> None:
    def command(apikey_id: str, output: OutputOpt = Format.table) -> None:
        api = Api()
        method = api.post if verb == "POST" else api.delete
        emit(method(f"/v1/apikeys/{apikey_id}{path_suffix}"), output, KEY_COLUMNS)

    command.__doc__ = help_text
    app.command(name)(command)


for _prefix in ("service-api-key", "api-key"):
    _key_command(f"{_prefix}-lock", "POST", "/lock", "Protect an API key from change/deletion.")
    _key_command(f"{_prefix}-unlock", "DELETE", "/lock", "Unlock an API key.")
    _key_command(f"{_prefix}-disable", "POST", "/disable", "Stop an API key from authenticating.")
    _key_command(f"{_prefix}-enable", "DELETE", "/disable", "Let a disabled API key work again.")


def _key_delete(apikey_id: str, force: Force = False, output: OutputOpt = Format.table) -> None:
    """Delete an API key; it stops working at once."""
    confirm_delete(f"API key {apikey_id}", force)
    Api().delete(f"/v1/apikeys/{apikey_id}")
    done({"id": apikey_id, "deleted": True}, output, f"API key {apikey_id} deleted")


app.command("service-api-key-delete")(_key_delete)
app.command("api-key-delete")(_key_delete)


# --- users ---------------------------------------------------------------------------------

@app.command("user-create")
def user_create(
    name: str,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input")] = False,
    output: OutputOpt = Format.table,
) -> None:
    """Create a user in your account."""
    if not password_stdin:
        fail("give the password on standard input with --password-stdin")
    password = read_secret_stdin()
    emit(Api().post("/v1/users", {"name": name, "password": password}), output, USER_COLUMNS)


@app.command("users")
def users(output: OutputOpt = Format.table) -> None:
    """List the users of your account."""
    emit(Api().get_all("/v1/users"), output, USER_COLUMNS)


@app.command("user-delete")
def user_delete(iam_id: str, force: Force = False, output: OutputOpt = Format.table) -> None:
    """Delete a user with its API keys and policies."""
    confirm_delete(f"user {iam_id}", force)
    Api().delete(f"/v1/users/{iam_id}")
    done({"iam_id": iam_id, "deleted": True}, output, f"User {iam_id} deleted")


@app.command("user-lock")
def user_lock(iam_id: str, output: OutputOpt = Format.table) -> None:
    """Protect a user from renaming and deletion (it still signs in)."""
    emit(Api().post(f"/v1/users/{iam_id}/lock"), output, USER_COLUMNS)


@app.command("user-unlock")
def user_unlock(iam_id: str, output: OutputOpt = Format.table) -> None:
    """Allow renaming and deletion of a user again."""
    emit(Api().delete(f"/v1/users/{iam_id}/lock"), output, USER_COLUMNS)


@app.command("user-password-set")
def user_password_set(iam_id: str, current: Annotated[bool, typer.Option(
        "--current", help="Your own password: standard input gives the current password on "
                          "its first line, the new one on the second")] = False,
        output: OutputOpt = Format.table) -> None:
    """Set a user's password, read from standard input (with --current for your own)."""
    body = {"current_password": read_secret_stdin()} if current else {}
    body["password"] = read_secret_stdin()
    Api().put(f"/v1/users/{iam_id}/password", body)
    done({"iam_id": iam_id, "password_changed": True}, output, "Password changed")

