"""Registries as data: the ones this service issues tokens for, managed by the system operator.

Each has a `service` name (the token audience, fixed once created), a region (what
region-scoped policies and namespaces match), the URL this service reaches its API at, TLS
settings, whether it allows deletes, and a trust mode (`bundle` or `jwks`, see
`iam.registry.trust_config`). Every process reads the list into its `RegistryDirectory`
and reloads it when the authorization generation changes (the table's triggers bump it).

The settings' `registries` (`IAM_REGISTRIES`, the config file) only seed the table, at
`iam init` and at server start: a registry is added when no row of its service exists,
never overwritten (a warning names the one that differs), never brought back once an
operator removed it (the row stays, with `removed_at`). Without any setting, an empty table
gets the default `registry.local`, as before registries were data.

Refused with Conflict: removing the last registry, removing the last registry of a region
that has namespaces, changing the region of a registry whose region has namespaces — the
namespaces' images live in that region's registries.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from iam.access.namespaces import check_region
from iam.config import Registry
from iam.errors import ConfigurationError, Conflict, InvalidInput, NotFound, PreconditionRequired
from iam.store.journal import ChangeJournal
from iam.store.models import Namespace, RegistryRow, new_tag, utcnow
from iam.store.rows import guarded_update

log = logging.getLogger("iam.registries")

KIND = "registry"
TRUST_MODES = ("bundle", "jwks")
Trust = Literal["bundle", "jwks"]
#: What can be changed after creation (the service name is the registry's identity).
CHANGEABLE = ("region", "url", "ca_file", "tls_verify", "delete_enabled", "trust")
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,255}", re.ASCII)
MAX_URL = 2048
MAX_CA_FILE = 4096


# --- validation --------------------------------------------------------------------------------

def check_service(service: str) -> str:
    if not _SERVICE.fullmatch(service):
        raise InvalidInput("a registry's service name has 1 to 256 characters: letters, "
                           "digits, '.', '_', ':' and '-', starting with a letter or digit "
                           "(it is the registry's auth.token.service)", target="service")
    return service


def check_url(url: str) -> str:
    """"" (not known: content operations refuse) or http(s)://host[:port], no user, path,
    query or fragment; returned without a trailing '/'."""
    if url == "":
        return url
    problem = "a registry URL is http:// or https:// and a host[:port], e.g. " \
              "https://registry.example:5000"
    if len(url) > MAX_URL or not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidInput(problem, target="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises on a port that is not a number in range
    except ValueError:
        raise InvalidInput(problem, target="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(problem, target="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("a registry URL must not carry credentials: this service "
                           "authenticates with tokens it mints itself", target="url")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidInput(f"{problem} (the registry API is at its root: no path, query or "
                           "fragment)", target="url")
    return f"{parts.scheme}://{parts.netloc}"


def check_ca_file(ca_file: str | None) -> str | None:
    """None, or an absolute path to a PEM file of CA certificates this server can read."""
    if ca_file is None:
        return None
    if not ca_file or len(ca_file) > MAX_CA_FILE or "\x00" in ca_file:
        raise InvalidInput(f"ca_file is an absolute path of at most {MAX_CA_FILE} characters",
                           target="ca_file")
    path = Path(ca_file)
    if not path.is_absolute():
        raise InvalidInput("ca_file must be an absolute path (it is read by the server)",
                           target="ca_file")
    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError, ValueError):
        raise InvalidInput(f"ca_file {ca_file[:200]} is not a readable file of PEM CA "
                           "certificates on the server", target="ca_file") from None
    return ca_file


def check_trust(trust: str) -> Trust:
    if trust not in TRUST_MODES:
        raise InvalidInput("trust is 'bundle' (x5c checked against rootcertbundle: "
                           "distribution 2.8 and 3.x) or 'jwks' (kid = JWK thumbprint, no "
                           "x5c: distribution 3.x with auth.token.jwks)", target="trust")
    return cast(Trust, trust)


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    """`values` (any of CHANGEABLE), each checked (and normalised: the URL)."""
    checked = dict(values)
    if "region" in values:
        checked["region"] = check_region(values["region"])
    if "url" in values:
        checked["url"] = check_url(values["url"])
    if "ca_file" in values:
        checked["ca_file"] = check_ca_file(values["ca_file"])
    if "trust" in values:
        checked["trust"] = check_trust(values["trust"])
    for flag in ("tls_verify", "delete_enabled"):
        if flag in values and not isinstance(values[flag], bool):
            raise InvalidInput(f"{flag} is true or false", target=flag)
    unknown = set(values) - set(CHANGEABLE)
    if unknown:
        raise InvalidInput(f"unknown registry field {sorted(unknown)[0]!r}")
    return checked


# --- reading -----------------------------------------------------------------------------------

def as_registry(row: RegistryRow) -> Registry:
    """The row as the rest of the service reads it (`iam.config.Registry`)."""
    return Registry(service=row.service, region=row.region, url=row.url,
                    ca_file=Path(row.ca_file) if row.ca_file else None,
                    tls_verify=row.tls_verify, delete_enabled=row.delete_enabled,
                    trust=check_trust(row.trust))


def list_registries(session: Session) -> list[RegistryRow]:
    """The registries in use (not removed), by service name."""
    return list(session.exec(select(RegistryRow).where(col(RegistryRow.removed_at).is_(None))
                             .order_by(col(RegistryRow.service))).all())


def load(session: Session) -> list[Registry]:
    """What a `RegistryDirectory` holds: every registry in use."""
    return [as_registry(row) for row in list_registries(session)]


def get_registry(session: Session, *, service: str) -> RegistryRow:
    row = session.get(RegistryRow, service) if "\x00" not in service else None
    if row is None or row.removed_at is not None:
        raise NotFound(f"registry {service[:256]} not found", target=KIND)
    return row


def _namespaces_in(session: Session, region: str) -> int:
    return int(session.exec(select(func.count()).select_from(Namespace)
                            .where(Namespace.region == region)).one())


# --- changes -----------------------------------------------------------------------------------

def add_registry(session: Session, *, journal: ChangeJournal, service: str, region: str = "",
                 url: str = "", ca_file: str | None = None, tls_verify: bool = True,
                 delete_enabled: bool = True, trust: str = "bundle") -> RegistryRow:
    """A new registry (a removed one of that service comes back with these values);
    Conflict when one of that service is in use."""
    check_service(service)
    values = _checked({"region": region, "url": url, "ca_file": ca_file,
                       "tls_verify": tls_verify, "delete_enabled": delete_enabled,
                       "trust": trust})
    now = utcnow()
    row = session.get(RegistryRow, service, with_for_update=True)
    if row is not None and row.removed_at is None:
        raise Conflict(f"registry {service} exists already; change it with "
                       "`iam registry-update`", target="service")
    if row is None:
        row = RegistryRow(service=service, created_at=now, modified_at=now,
                          entity_tag=new_tag(), **values)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            raise Conflict(f"registry {service} exists already", target="service") from None
    else:  # removed: it comes back as new
        for name, value in {**values, "created_at": now, "modified_at": now,
                            "removed_at": None, "entity_tag": new_tag()}.items():
            setattr(row, name, value)
        session.add(row)
        session.flush()
    journal.created(row, kind=KIND)
    return row


def update_registry(session: Session, *, journal: ChangeJournal, service: str,
                    if_match: str | None, values: dict[str, Any]) -> RegistryRow:
    """Change some of CHANGEABLE, if the row still carries the tag the caller read."""
    if if_match is None:
        raise PreconditionRequired(f"updating a {KIND} needs an If-Match header with its "
                                   "entity_tag")
    checked = _checked(values)
    row = get_registry(session, service=service)
    changed = {k: v for k, v in checked.items() if getattr(row, k) != v}
    if "region" in changed:
        held = _namespaces_in(session, row.region)
        if held:
            raise Conflict(f"registry {service} serves region {row.region or '(default)'}, "
                           f"which has {held} namespace(s): their images are in its "
                           "registries, so its region cannot change; add a registry in the "
                           "other region instead", target="region")
    if not changed:
        return row
    guarded_update(session, row, journal=journal, if_match=if_match, kind=KIND,
                   values=changed, key_column="service", respect_lock=False)
    return row


def remove_registry(session: Session, *, journal: ChangeJournal, service: str) -> RegistryRow:
    """Stop issuing tokens for it; its row stays (`removed_at`) so seeding does not bring
    it back. Conflict for the last registry, and for the last of a region with namespaces."""
    row = get_registry(session, service=service)
    # Locks every registry in use (SQLite: the write transaction already does): two
    # removals at once cannot both see the other one still there.
    live = list(session.exec(select(RegistryRow).where(col(RegistryRow.removed_at).is_(None))
                             .with_for_update()).all())
    others = [r for r in live if r.service != service]
    if not others:
        raise Conflict(f"registry {service} is the last one; add another before removing it",
                       target=KIND)
    if not any(r.region == row.region for r in others):
        held = _namespaces_in(session, row.region)
        if held:
            raise Conflict(f"registry {service} is the last of region "
                           f"{row.region or '(default)'}, which has {held} namespace(s); "
                           "remove them (iam namespace-rm) or add another registry in that "
                           "region first", target=KIND)
    with journal.updating(row, kind=KIND):
        row.removed_at = utcnow()
        row.modified_at = row.removed_at
        row.entity_tag = new_tag()
        session.add(row)
        session.flush()
    return row


# --- seeding from the settings ----------------------------------------------------------------

@dataclass
class Seeded:
    """What seeding did: the services added, and those it left as the operator has them."""

    added: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _settings_values(registry: Registry) -> dict[str, Any]:
    return {"region": registry.region, "url": registry.url,
            "ca_file": str(registry.ca_file) if registry.ca_file else None,
            "tls_verify": registry.tls_verify, "delete_enabled": registry.delete_enabled,
            "trust": registry.trust}


def check_configured(registries: Sequence[Registry]) -> None:
    """Each configured registry passes the rules an operator's would; ConfigurationError
    naming the setting and the registry otherwise (the service does not start)."""
    for index, registry in enumerate(registries):
        try:
            check_service(registry.service)
            _checked(_settings_values(registry))
        except InvalidInput as exc:
            where = f"{index}.{exc.target}" if exc.target else str(index)
            raise ConfigurationError(f"invalid configuration: registries.{where} "
                                     f"(IAM_REGISTRIES, {registry.service[:100]!r}): "
                                     f"{exc.message}") from None


def seed(session: Session, *, journal: ChangeJournal, registries: Sequence[Registry],
         explicit: bool = True) -> Seeded:
    """Add each of `registries` that no row names yet. `explicit=False` (the settings'
    default, nothing configured): only into an empty table."""
    done = Seeded()
    if not explicit and session.exec(select(func.count()).select_from(RegistryRow)).one():
        return done
    check_configured(registries)
    for registry in registries:
        values = _settings_values(registry)
        row = session.get(RegistryRow, registry.service)
        if row is None:
            try:
                with session.begin_nested():
                    row = add_registry(session, journal=journal, service=registry.service,
                                       **values)
            except Conflict:  # another process seeded it meanwhile
                continue
            done.added.append(registry.service)
            log.info("registry %s (region %s) added from the settings", registry.service,
                     registry.region or "(default)")
        elif row.removed_at is not None:
            done.removed.append(registry.service)
            log.warning("registry %s is in the settings (IAM_REGISTRIES) but an operator "
                        "removed it; it is not added again (`iam registry-add` brings it "
                        "back)", registry.service)
        else:
            differing = sorted(k for k, v in values.items() if getattr(row, k) != v)
            if differing:
                done.differing.append(registry.service)
                log.warning("registry %s differs from the settings (IAM_REGISTRIES) in %s; "
                            "the stored one is used (change it with `iam registry-update`)",
                            registry.service, ", ".join(differing))
    return done
