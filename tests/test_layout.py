"""The layout the README's architecture map promises: one package per concern, imports that
point one way, the web frameworks only in `iam.api` and `iam.cli`, and an OpenAPI document
that lists every route the app serves."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from iam.api.app import RegistryIAM, create_app
from iam.config import Settings

IAM = Path(__file__).resolve().parent.parent / "iam"
# Each part may import only parts on a lower floor (its own floor: only itself).
FLOORS = {
    "errors": 0, "resources": 1, "client_address": 1, "names": 1, "config": 2,
    "metrics": 2, "tls": 4,
    "store": 3, "audit": 4, "identity": 5, "access": 6, "federation": 6, "tokens": 7,
    "registry": 8, "runtime": 9, "bootstrap": 9, "backup": 9, "api": 10, "cli": 10,
    "console": 11,
}
DOMAIN = {part for part, floor in FLOORS.items() if floor < FLOORS["runtime"]}
FRAMEWORKS = ("fastapi", "starlette", "typer", "uvicorn")


def part_of(path: Path) -> str:
    rel = path.relative_to(IAM).with_suffix("").parts
    return rel[0]


def runtime_imports(path: Path) -> list[str]:
    """Modules imported when the file runs (not those under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Name)
                and node.test.id == "TYPE_CHECKING"):
            hidden.update(id(n) for child in node.body for n in ast.walk(child))
    found = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "iam":
                found += [f"iam.{alias.name}" for alias in node.names]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


MODULES = sorted(p for p in IAM.rglob("*.py") if part_of(p) in FLOORS or p.name == "__init__.py")


def test_every_module_belongs_to_a_part_of_the_map() -> None:
    strays = [str(p.relative_to(IAM)) for p in IAM.rglob("*.py")
              if part_of(p) not in FLOORS and p != IAM / "__init__.py"]
    assert not strays, f"not on the README's map (add them to FLOORS and the map): {strays}"


@pytest.mark.parametrize("path", [p for p in MODULES if part_of(p) in DOMAIN],
                         ids=lambda p: str(p.relative_to(IAM)))
def test_domain_code_imports_no_web_framework(path: Path) -> None:
    bad = [m for m in runtime_imports(path) if m.split(".")[0] in FRAMEWORKS]
    assert not bad, bad


@pytest.mark.parametrize("path", [p for p in MODULES if p != IAM / "__init__.py"],
                         ids=lambda p: str(p.relative_to(IAM)))
def test_imports_point_down_the_map(path: Path) -> None:
    part = part_of(path)
    upward = []
    for module in runtime_imports(path):
        names = module.split(".")
        if names[0] != "iam" or len(names) < 2 or names[1] == "__version__":
            continue
        other = names[1]
        if other != part and FLOORS[other] >= FLOORS[part]:
            upward.append(module)
    assert not upward, f"{part} (floor {FLOORS[part]}) imports {upward}"


def test_nothing_below_the_api_and_cli_imports_them() -> None:
    users = {str(p.relative_to(IAM)): [m for m in runtime_imports(p)
                                       if m.split(".")[:2] in (["iam", "api"], ["iam", "cli"])]
             for p in MODULES if part_of(p) not in ("api", "cli", "console")}
    assert not {k: v for k, v in users.items() if v}


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside routers FastAPI includes lazily."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += api_routes(route.original_router.routes)
    return found


def test_openapi_lists_every_route_the_app_serves(tmp_path: Path) -> None:
    from iam import bootstrap

    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'iam.db'}")
    bootstrap.initialize(settings)
    app = create_app(settings)
    served = {(method.lower(), route.path) for route in api_routes(app.routes)
              if route.include_in_schema for method in route.methods}
    served |= {(method.lower(), path) for method, path in RegistryIAM.HOT}
    documented = {(method, path) for path, item in app.openapi()["paths"].items()
                  for method in item}
    missing, stale = sorted(served - documented), sorted(documented - served)
    assert not missing, f"served but not documented: {missing}"
    assert not stale, f"documented but not served: {stale}"
