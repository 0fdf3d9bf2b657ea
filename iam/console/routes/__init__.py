"""The console's pages, one module per subject; `ROUTERS` lists them for `console.app`."""

from __future__ import annotations

from iam.console.routes import signin

ROUTERS = [signin.router]
