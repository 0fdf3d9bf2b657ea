"""The Typer application every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="iam",
    help="registry-iam: service IDs, API keys, policies and registry tokens.\n\n"
         "`iam init` and `iam serve` work on the local data directory; every other command "
         "talks to the server over HTTP after `iam login`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Signing keys of registry and IAM tokens.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
