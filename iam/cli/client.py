"""What CLI commands share: the stored login, the HTTP client and output formatting."""

from __future__ import annotations

import json
import shutil
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer

from iam.store.files import user_config_file, write_private_file

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
DEFAULT_ENDPOINT = "http://127.0.0.1:8080"


class Format(StrEnum):
    table = "table"
    json = "json"


OutputOpt = Annotated[Format, typer.Option("--output", "-o", help="table or json")]


Force = Annotated[bool, typer.Option("--force", "-f", help="Do not ask for confirmation")]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"FAILED\n{message}", err=True)
    raise typer.Exit(code)


def confirm_delete(what: str, force: bool) -> None:
    """Ask on the terminal (standard error: standard output stays the command's answer)."""
    if not force and not typer.confirm(f"Delete {what}?", err=True):
        raise typer.Exit(1)


def done(body: dict[str, Any], output: Format, message: str) -> None:
    """What a command that changes something and returns nothing prints: `body` as JSON, or
    a sentence."""
    if output == Format.json:
        emit(body, output)
    else:
        typer.echo(message)


def iam_command() -> str:
    """How to run this very `iam` again from the working directory, for printed hints:
    `iam` when the PATH finds this program, else its path (`.venv/bin/iam` after `make`)."""
    program = Path(sys.argv[0])
    if program.name != "iam":  # run another way (python -m, a test runner)
        return "iam"
    found = shutil.which("iam")
    if found and Path(found).resolve() == program.resolve():
        return "iam"
    try:
        relative = program.absolute().relative_to(Path.cwd())
    except ValueError:
        return str(program.absolute())
    return str(relative) if relative.parent != Path(".") else f"./{relative}"


def config_path() -> Path:
    return user_config_file("cli.json", override="IAM_CLI_CONFIG")


def load_login() -> dict[str, Any]:
    path = config_path()
    if not path.exists():
        fail("not logged in; run `iam login --apikey KEY [--endpoint URL]`")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def save_login(data: dict[str, Any]) -> None:
    """Tokens only, never the API key, in a file only its owner can read."""
    write_private_file(config_path(), json.dumps(data, indent=2).encode())


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        if body.get("errors"):
            first = body["errors"][0]
            message = f"{first.get('message', '')} ({first.get('code', '')}, HTTP " \
                      f"{response.status_code})"
            for part in ("done", "not_done"):  # an operation that stopped part way
                for entry in body.get(part) or []:
                    shown = " ".join(f"{k}={v}" for k, v in entry.items() if v)
                    message += f"\n{part.replace('_', ' ')}: {shown}"
            return message
        if "error" in body:
            return f"{body.get('error_description', body['error'])} (HTTP {response.status_code})"
    return f"HTTP {response.status_code}"


def exchange(endpoint: str, form: dict[str, str]) -> dict[str, Any]:
    try:
        response = httpx.post(f"{endpoint}/identity/token", data=form, timeout=30)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {endpoint}: {exc}")
    if response.status_code != 200:
        fail(_error_message(response))
    body: dict[str, Any] = response.json()
    return body


#: What `Api.get_all` asks for a page (the API's largest `limit`).
PAGE = 1000


class Api:
    """An HTTP client carrying the stored access token, refreshed when it expires."""

    def __init__(self) -> None:
        self.login = load_login()
        self.endpoint: str = self.login["endpoint"]

    def _token(self) -> str:
        if self.login.get("expiration", 0) - 60 < time.time():
            body = exchange(self.endpoint, {"grant_type": "refresh_token",
                                            "refresh_token": self.login["refresh_token"]})
            self.login.update(access_token=body["access_token"],
                              refresh_token=body["refresh_token"],
                              expiration=body["expiration"])
            save_login(self.login)
        return str(self.login["access_token"])

    def call(self, method: str, path: str, *, json_body: Any = None,
             params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, timeout: float = 30) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {self._token()}", **(headers or {})}
        try:
            # No `params` at all when there are none: httpx replaces a query string already
            # in `path` (e.g. `?region=...`) with an empty `params` mapping.
            query = {k: v for k, v in (params or {}).items() if v is not None} or None
            response = httpx.request(method, f"{self.endpoint}{path}", json=json_body,
                                     params=query, headers=all_headers, timeout=timeout)
        except httpx.HTTPError as exc:
            fail(f"cannot reach {self.endpoint}: {exc}")
        if response.status_code >= 400:
            fail(_error_message(response))
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params).json()

    def get_all(self, path: str, **params: Any) -> list[Any]:
        """Every page of a paginated list."""
        items: list[Any] = []
        start = None
        while True:
            page = self.get(path, **params, limit=PAGE, pagestart=start)
            items.extend(page["data"])
            start = page.get("next_pagestart")
            if not start:
                return items

    def post(self, path: str, body: Any = None) -> Any:
        response = self.call("POST", path, json_body=body)
        return response.json() if response.content else None

    def put(self, path: str, body: Any = None, *, if_match: str | None = None,
            params: dict[str, Any] | None = None) -> Any:
        headers = {"If-Match": if_match} if if_match else None
        response = self.call("PUT", path, json_body=body, headers=headers, params=params)
        return response.json() if response.content else None

    def patch(self, path: str, body: Any = None, *, if_match: str | None = None) -> Any:
        headers = {"If-Match": if_match} if if_match else None
        response = self.call("PATCH", path, json_body=body, headers=headers)
        return response.json() if response.content else None

    def delete(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        response = self.call("DELETE", path, params=params)
        return response.json() if response.content else None


def emit(data: Any, fmt: Format, columns: list[str] | None = None) -> None:
    """One JSON document on stdout, or a readable table of `columns`."""
    if fmt == Format.json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    rows = data if isinstance(data, list) else [data]
    if data is None:
        typer.echo("OK")
        return
    if not columns:
        columns = list(rows[0].keys()) if rows else []
    if not isinstance(data, list):
        width = max((len(c) for c in columns), default=0)
        for column in columns:
            typer.echo(f"{column.ljust(width)}   {_cell(data.get(column))}")
        return
    if not rows:
        typer.echo("No results")
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    typer.echo("   ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        typer.echo("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items() if v)
    return str(value)


def read_secret_stdin() -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail("nothing was given on standard input")
    return value
