"""The `iam` command line. Each module registers its commands on `iam.cli.app.app`."""

from __future__ import annotations

import importlib

from iam.cli.app import app

# Command modules, imported for their registrations. A module another change has not
# added yet is skipped, so the CLI keeps working while features land one by one.
for _module in ("server", "identity", "policies", "namespaces", "registry", "registries",
                "audit", "images", "federation", "kubernetes", "backup"):
    try:
        importlib.import_module(f"iam.cli.{_module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"iam.cli.{_module}":
            raise


def main() -> None:
    app()
