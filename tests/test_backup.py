"""`iam backup` and `iam restore`, end to end and at the edges.

End to end, once per backend: a running service under load (token requests and admin
changes) is backed up, its data directory and database wiped, the archive restored into
new ones; then the old keys log in, pushes to the same real registry work (its signing keys
came back: the registry was never told of new ones), and every audit event from before the
backup is in the restored trail. SQLite's archive is sealed with a passphrase, PostgreSQL's
(`pg_dump`) is not, so both kinds are restored.

At the edges, on one data directory: the archive is mode 0600, a sealed one opens only with
its passphrase and only unaltered, a restore refuses a non-empty target and a member the
format does not write, and leaves nothing behind when it refuses.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from iam import bootstrap
from iam.backup.archive import restore_backup, write_backup
from iam.config import Settings
from iam.errors import BackupError
from tests.conftest import PG_ADMIN_URL
from tests.registry_env import Skopeo, build_image, start_registry
from tests.server import make_server

SERVICE = "registry.us"
REGION = "us-south"
APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
PASSPHRASE = "correct horse battery staple"


# --- end to end -------------------------------------------------------------------------------


def _database(name: str) -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _events(url: str, before: datetime) -> set[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, ts, action, outcome, actor, target, detail "
                                     "FROM audit_events")).all()
    finally:
        engine.dispose()
    found = set()
    for row in rows:
        ts = row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(str(row[1]))
        if (ts if ts.tzinfo else ts.replace(tzinfo=UTC)) < before:
            found.add(tuple(row))
    return found


class Load:
    """Token requests and service ID creations in a loop, until stopped."""

    def __init__(self, url: str, apikey: str, admin: dict[str, str]) -> None:
        self.url, self.apikey, self.admin = url, apikey, admin
        self.statuses: Counter[int] = Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._tokens),
                        threading.Thread(target=self._changes)]

    def _tokens(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                self.statuses[client.get(f"{self.url}/token", auth=("iamapikey", self.apikey),
                                         params={"service": SERVICE}).status_code] += 1

    def _changes(self) -> None:
        with httpx.Client(timeout=30, headers=self.admin) as client:
            while not self.stop.is_set():
                r = client.post(f"{self.url}/v1/serviceids",
                                json={"name": f"load-{uuid.uuid4().hex[:8]}"})
                self.statuses[r.status_code] += 1

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    yield str(request.param)


def test_restore_after_a_wipe_brings_back_keys_registry_trust_and_audit(
        backend: str, tmp_path: Path) -> None:
    names = [f"iam_backup_{uuid.uuid4().hex[:8]}" for _ in range(2)] \
        if backend == "postgresql" else []
    db_env = {"IAM_DATABASE_URL": _database(names[0])} if names else {}
    server = make_server(tmp_path / "iam", IAM_AUTH_MAX_FAILURES="10000", **db_env,
                         IAM_REGISTRIES=json.dumps([{"service": SERVICE, "region": REGION}]))
    registry = None
    try:
        server.cli("init", "--apikey-file", str(tmp_path / "owner.key"))
        server.start()
        owner = (tmp_path / "owner.key").read_text().strip()
        token = httpx.post(f"{server.url}/identity/token", timeout=30, data={
            "grant_type": APIKEY_GRANT, "apikey": owner}).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        api = httpx.Client(base_url=server.url, headers=admin, timeout=30)
        assert api.put("/v1/namespaces/team-a", params={"region": REGION}).status_code == 201
        robot = api.post("/v1/serviceids", json={"name": "ci-robot"}).json()
        key = api.post("/v1/apikeys", json={"name": "ci-key", "iam_id": robot["iam_id"]}).json()
        assert api.post("/v1/policies", json={
            "subject": {"iam_id": robot["iam_id"]}, "roles": ["Manager"],
            "resource": {"service": "container-registry", "region": REGION,
                         "resource_type": "namespace", "resource": "team-a"}}).status_code == 201
        api.close()
        registry = start_registry(server, tmp_path / "registry", SERVICE)

        archive = tmp_path / "iam.backup"
        backup_args = ["backup", "--out", str(archive)]
        if backend == "sqlite":
            (tmp_path / "pass").write_text(PASSPHRASE + "\n")
            (tmp_path / "pass").chmod(0o600)
            backup_args += ["--passphrase-file", str(tmp_path / "pass")]
        with Load(server.url, key["apikey"], admin) as load:
            deadline = time.monotonic() + 30
            while sum(load.statuses.values()) < 20:  # the load is on before the backup starts
                assert time.monotonic() < deadline, load.statuses
                time.sleep(0.05)
            started = datetime.now(UTC)
            made = server.cli(*backup_args, "--output", "json").json()
            time.sleep(0.5)
        assert set(load.statuses) <= {200, 201} and load.statuses[200] > 0, load.statuses
        assert made["backend"] == backend and made["sealed"] == (backend == "sqlite")
        assert archive.stat().st_mode & 0o777 == 0o600
        server.stop()

        # Wipe: the data directory goes aside (the old database with it, or left unused).
        old_url = db_env.get("IAM_DATABASE_URL",
                             f"sqlite:///{tmp_path / 'old-data' / 'iam.db'}")
        shutil.move(server.data_dir, tmp_path / "old-data")
        if names:
            server.env["IAM_DATABASE_URL"] = _database(names[1])
        restored = server.cli("restore", str(archive), *backup_args[3:], "--output", "json")
        assert sorted(restored.json()["files"]) == sorted(made["files"])
        new_url = server.env.get("IAM_DATABASE_URL",
                                 f"sqlite:///{server.data_dir / 'iam.db'}")
        server.start()

        login = httpx.post(f"{server.url}/identity/token", timeout=30, data={
            "grant_type": APIKEY_GRANT, "apikey": key["apikey"]})
        assert login.status_code == 200, login.text
        build_image(tmp_path / "image")
        pushed = Skopeo(tmp_path / "skopeo").copy(
            f"oci:{tmp_path / 'image'}:latest", f"docker://{registry.host}/team-a/app:after",
            dest_key=key["apikey"])
        assert pushed.code == 0, pushed.output
        server.stop()

        before = _events(old_url, started)
        assert len(before) >= 20 + 5  # the load's, and the set-up's five admin changes
        assert before <= _events(new_url, started)
    finally:
        if registry is not None:
            registry.stop()
        server.stop()
        for name in names:
            _drop(name)


# --- at the edges ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("edges") / "data"
    settings = Settings(data_dir=data)
    bootstrap.initialize(settings)
    return settings


@pytest.fixture(scope="module")
def sealed(initialised: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sealed") / "sealed.backup"
    write_backup(initialised, out=out, passphrase=PASSPHRASE.encode(), settle_seconds=0)
    return out


def _restore(tmp_path: Path, archive: Path, passphrase: str | None) -> Path:
    target = tmp_path / "restored"
    restore_backup(Settings(data_dir=target), archive=archive,
                   passphrase=passphrase.encode() if passphrase else None)
    return target


def test_a_sealed_archive_restores_the_data_directory(sealed: Path, initialised: Settings,
                                                      tmp_path: Path) -> None:
    target = _restore(tmp_path, sealed, PASSPHRASE)
    for name in ("hmac.secret", *(f"keys/{p.name}" for p in initialised.keys_dir.iterdir())):
        assert (target / name).read_bytes() == (initialised.data_dir / name).read_bytes()
        assert (target / name).stat().st_mode & 0o777 == 0o600
    assert (target / "iam.db").stat().st_size > 0


def test_a_sealed_archive_holds_no_secret_in_clear(sealed: Path,
                                                   initialised: Settings) -> None:
    secret = (initialised.data_dir / "hmac.secret").read_bytes()
    assert secret not in sealed.read_bytes()


@pytest.mark.parametrize(("passphrase", "message"), [
    (None, "is sealed with a passphrase: give --passphrase-file"),
    ("wrong horse battery staple", "wrong passphrase, or the archive was altered"),
    ("short", "the passphrase must be at least 12 characters"),
])
def test_a_sealed_archive_needs_its_passphrase(sealed: Path, tmp_path: Path,
                                               passphrase: str | None, message: str) -> None:
    with pytest.raises(BackupError, match=message):
        _restore(tmp_path, sealed, passphrase)
    assert not (tmp_path / "restored").exists()


@pytest.mark.parametrize("where", ["header", "middle", "end"])
def test_an_altered_or_cut_archive_is_refused(sealed: Path, tmp_path: Path,
                                              where: str) -> None:
    data = bytearray(sealed.read_bytes())
    if where == "end":
        data = data[:-40]
    else:
        data[30 if where == "header" else len(data) // 2] ^= 1
    altered = tmp_path / "altered.backup"
    altered.write_bytes(bytes(data))
    with pytest.raises(BackupError):
        _restore(tmp_path, altered, PASSPHRASE)
    assert not (tmp_path / "restored").exists()


def test_restore_into_a_non_empty_data_directory_is_refused(sealed: Path,
                                                            tmp_path: Path) -> None:
    (tmp_path / "restored").mkdir()
    (tmp_path / "restored" / "notes.txt").write_text("mine")
    with pytest.raises(BackupError, match="is not empty; restore only into an empty"):
        _restore(tmp_path, sealed, PASSPHRASE)
    assert [p.name for p in (tmp_path / "restored").iterdir()] == ["notes.txt"]


def test_backup_to_an_existing_file_is_refused(initialised: Settings, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.write_text("keep")
    with pytest.raises(BackupError, match="exists; write the backup to a new file"):
        write_backup(initialised, out=out, passphrase=None, settle_seconds=0)
    assert out.read_text() == "keep"


def test_an_archive_with_a_member_outside_the_format_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    manifest = json.dumps({"format": 1, "members": {"data/../evil": "0" * 64}}).encode()
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in (("manifest.json", manifest), ("data/../evil", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BackupError, match=re.escape("unexpected member 'data/../evil'")):
        _restore(tmp_path, archive, None)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "restored").exists()
