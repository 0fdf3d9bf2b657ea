"""Roles as data: loading refuses broken files naming file and line; a custom role works."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from iam.access import roles
from iam.api.app import create_app
from iam.config import Settings
from iam.errors import ConfigurationError
from tests.conftest import Owner, bearer
from tests.test_policies_api import check, grant, namespace, robot


def copy_roles(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(roles.DEFAULT_DIR, folder)
    return folder


def edit(folder: Path, service: str, old: str, new: str) -> Path:
    path = folder / f"{service}.json"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    lines = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return lines[nth - 1]


def test_the_shipped_roles_load() -> None:
    catalog = roles.load_dir(roles.DEFAULT_DIR)
    assert set(catalog.services) == {"container-registry", "iam-identity",
                                     "iam-access-management"}


def test_unknown_action_names_file_and_line(tmp_path: Path) -> None:
    folder = copy_roles(tmp_path)
    path = edit(folder, "container-registry", '"container-registry.image.push",\n',
                '"container-registry.image.pusj",\n')
    with pytest.raises(ConfigurationError) as exc:
        roles.load_dir(folder)
    assert f"{path}:{line_of(path, 'image.pusj')}:" in exc.value.message
    assert "unknown action 'container-registry.image.pusj'" in exc.value.message


def test_duplicate_role_names_file_and_line(tmp_path: Path) -> None:
    folder = copy_roles(tmp_path)
    path = edit(folder, "iam-identity", '"name": "Operator"', '"name": "Viewer"')
    with pytest.raises(ConfigurationError) as exc:
        roles.load_dir(folder)
    line = line_of(path, '"name": "Viewer"', 2)
    assert f"{path}:{line}:" in exc.value.message
    assert "duplicate role 'Viewer'" in exc.value.message


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    folder = copy_roles(tmp_path)
    path = edit(folder, "iam-access-management", '"roles": [', '"roles": [,')
    with pytest.raises(ConfigurationError) as exc:
        roles.load_dir(folder)
    line = line_of(path, '"roles": [,')
    assert f"{path}:{line}: invalid JSON" in exc.value.message


def test_unreadable_file_stops_the_service(tmp_path: Path, settings: Settings) -> None:
    folder = copy_roles(tmp_path)
    (folder / "container-registry.json").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ConfigurationError, match=r"container-registry\.json:1: cannot read"):
        create_app(settings.model_copy(update={"policies_dir": folder}))


TEAM_A = {"resource_type": "namespace", "resource": "team-a"}
PULL = "container-registry.image.pull"


def with_puller(tmp_path: Path, settings: Settings) -> Settings:
    """The settings of a service whose container-registry roles include `Puller` (pull only)."""
    folder = copy_roles(tmp_path)
    path = folder / "container-registry.json"
    data = json.loads(path.read_text())
    data["roles"].append({"name": "Puller", "description": "pull only", "actions": [PULL]})
    path.write_text(json.dumps(data, indent=2))
    return settings.model_copy(update={"policies_dir": folder})


def puller_on_team_a(client: TestClient, admin: dict[str, str]) -> str:
    """A new service ID granted `Puller` on the new namespace team-a; its iam_id."""
    namespace(client, admin, "team-a")
    iam_id, _ = robot(client, admin)
    r = grant(client, admin, iam_id, ["Puller"], **TEAM_A)
    assert r.status_code == 201, r.text
    return iam_id


def test_custom_role_works_end_to_end(tmp_path: Path, settings: Settings,
                                      owner: Owner) -> None:
    """An operator adds `Puller` (pull only) to container-registry; it is granted and held."""
    with TestClient(create_app(with_puller(tmp_path, settings))) as client:
        admin = bearer(client, owner.apikey)
        iam_id = puller_on_team_a(client, admin)
        assert check(client, admin, iam_id, PULL, **TEAM_A)["allowed"]
        denied = check(client, admin, iam_id, "container-registry.image.list", **TEAM_A)
        assert not denied["allowed"] and "Puller" in denied["reason"]


def test_each_service_evaluates_with_its_own_roles(tmp_path: Path, settings: Settings,
                                                   owner: Owner) -> None:
    """Two services over one database, one with `Puller`: starting the second does not change
    the roles the first evaluates with."""
    custom = with_puller(tmp_path, settings)
    with TestClient(create_app(custom)) as puller, TestClient(create_app(settings)) as plain:
        admin = bearer(puller, owner.apikey)
        iam_id = puller_on_team_a(puller, admin)
        assert check(puller, admin, iam_id, PULL, **TEAM_A)["allowed"]
        assert not check(plain, bearer(plain, owner.apikey), iam_id, PULL, **TEAM_A)["allowed"]
