"""Roles as data: one JSON file per service in `policies/`, loaded and validated at start-up.

A file names its service, the actions the service knows (with a description each) and its
roles, each a list of those actions. An operator adds a custom role by adding an entry to
`roles`; no code change. Anything wrong (unreadable file, bad JSON, unknown action, duplicate
role, a file whose name is not its service) raises ConfigurationError naming file and line.

There is no catalog in use by default: `Runtime.start` loads one (`load_dir`) and owns it
(`runtime.roles`); whatever evaluates or validates is handed it. Code without a runtime loads
the shipped files itself with `load_dir(DEFAULT_DIR)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iam.errors import ConfigurationError, InvalidInput
from iam.resources import roles_dir

DEFAULT_DIR = roles_dir()
_ROLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 _-]{0,63}$")
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,63}$")


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    actions: frozenset[str]


@dataclass(frozen=True)
class ServiceRoles:
    """One service's actions and roles, as read from its file."""

    service: str
    description: str
    regional: bool
    resource_types: frozenset[str]
    actions: Mapping[str, str]
    roles: Mapping[str, Role]
    path: Path = field(compare=False)

    def role(self, name: str) -> Role:
        try:
            return self.roles[name]
        except KeyError:
            raise InvalidInput(
                f"unknown role {name!r} for service {self.service}; roles: "
                f"{', '.join(self.roles)}", target="roles") from None

    def actions_of(self, role_names: Iterable[str]) -> frozenset[str]:
        """The union of the actions of these roles (unknown names hold nothing)."""
        held: set[str] = set()
        for name in role_names:
            role = self.roles.get(name)
            if role is not None:
                held |= role.actions
        return frozenset(held)

    def roles_with(self, action: str) -> list[str]:
        return [r.name for r in self.roles.values() if action in r.actions]


@dataclass(frozen=True)
class RoleCatalog:
    services: Mapping[str, ServiceRoles]

    def service(self, name: str) -> ServiceRoles:
        try:
            return self.services[name]
        except KeyError:
            raise InvalidInput(f"unknown service {name!r}; services: "
                               f"{', '.join(sorted(self.services))}", target="service") from None

    def service_of(self, action: str) -> ServiceRoles:
        """The service an action belongs to; InvalidInput if no service declares it."""
        svc = self.services.get(action.split(".", 1)[0])
        if svc is None or action not in svc.actions:
            raise InvalidInput(f"unknown action {action!r}", target="action")
        return svc

    def all_actions(self, service: str) -> frozenset[str]:
        svc = self.services.get(service)
        return frozenset(svc.actions) if svc else frozenset()


class _Source:
    """A file's text, to turn a problem into `file:line: message`."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def line_of(self, pattern: str, nth: int = 1, after: int = 0) -> int:
        matches = list(re.finditer(pattern, self.text[after:]))
        if len(matches) < nth:
            return 1
        return self.text.count("\n", 0, after + matches[nth - 1].start()) + 1

    def offset_of(self, pattern: str, nth: int = 1) -> int:
        matches = list(re.finditer(pattern, self.text))
        return matches[nth - 1].start() if len(matches) >= nth else 0

    def fail(self, line: int, message: str) -> ConfigurationError:
        return ConfigurationError(f"{self.path}:{line}: {message}")


def _quoted(value: str) -> str:
    return re.escape(json.dumps(value))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def load_file(path: Path) -> ServiceRoles:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}:1: cannot read roles file: {exc}") from None
    src = _Source(path, text)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise src.fail(exc.lineno, f"invalid JSON: {exc.msg}") from None
    except _DuplicateKey as exc:
        raise src.fail(src.line_of(_quoted(exc.key) + r"\s*:", 2),
                       f"duplicate key {exc.key!r}") from None
    if not isinstance(data, dict):
        raise src.fail(1, "a roles file is a JSON object")
    return _parse(src, data)


def _parse(src: _Source, data: dict[str, Any]) -> ServiceRoles:
    service = data.get("service")
    if not isinstance(service, str) or not _SERVICE_NAME.match(service):
        raise src.fail(src.line_of(r'"service"'), "'service' must be a lowercase service name")
    if src.path.stem != service:
        raise src.fail(src.line_of(r'"service"'),
                       f"the file of service {service!r} must be named {service}.json")
    actions = data.get("actions")
    if not isinstance(actions, dict) or not actions:
        raise src.fail(src.line_of(r'"actions"'), "'actions' must map each action to a "
                       "description")
    for action, description in actions.items():
        line = src.line_of(_quoted(action))
        if not action.startswith(service + ".") or not re.match(r"^[a-z0-9.-]+$", action):
            raise src.fail(line, f"action {action!r} must be lowercase and start with "
                           f"'{service}.'")
        if not isinstance(description, str):
            raise src.fail(line, f"the description of {action!r} must be a string")
    resource_types = data.get("resource_types", [])
    if not isinstance(resource_types, list) or not all(isinstance(t, str)
                                                       for t in resource_types):
        raise src.fail(src.line_of(r'"resource_types"'), "'resource_types' must be a list of "
                       "names")
    roles_data = data.get("roles")
    if not isinstance(roles_data, list) or not roles_data:
        raise src.fail(src.line_of(r'"roles"'), "'roles' must be a non-empty list")
    roles: dict[str, Role] = {}
    counts: dict[str, int] = {}
    for entry in roles_data:
        role = _parse_role(src, entry, actions, counts)
        if role.name in roles:
            raise src.fail(src.line_of(r'"name"\s*:\s*' + _quoted(role.name),
                                       counts[role.name]),
                           f"duplicate role {role.name!r}")
        roles[role.name] = role
    return ServiceRoles(service=service, description=str(data.get("description", "")),
                        regional=bool(data.get("regional", False)),
                        resource_types=frozenset(resource_types), actions=dict(actions),
                        roles=roles, path=src.path)


def _parse_role(src: _Source, entry: Any, actions: dict[str, str],
                counts: dict[str, int]) -> Role:
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not _ROLE_NAME.match(name):
        raise src.fail(src.line_of(r'"roles"'), f"each role needs a 'name' (letters, digits, "
                       f"space, '-', '_'); got {name!r}")
    counts[name] = counts.get(name, 0) + 1
    pattern = r'"name"\s*:\s*' + _quoted(name)
    start = src.offset_of(pattern, counts[name])
    role_actions = entry.get("actions")
    if not isinstance(role_actions, list) or not role_actions:
        raise src.fail(src.line_of(pattern, counts[name]),
                       f"role {name!r} needs a non-empty 'actions' list")
    for action in role_actions:
        if not isinstance(action, str) or action not in actions:
            raise src.fail(src.line_of(_quoted(str(action)), 1, after=start),
                           f"role {name!r}: unknown action {action!r} (declare it in "
                           "'actions' first)")
    return Role(name=name, description=str(entry.get("description", "")),
                actions=frozenset(role_actions))


def load_dir(path: Path) -> RoleCatalog:
    """Every `*.json` of the folder; at least one, each service once."""
    if not path.is_dir():
        raise ConfigurationError(f"{path}:1: roles folder not found (IAM_POLICIES_DIR)")
    services: dict[str, ServiceRoles] = {}
    for file in sorted(path.glob("*.json")):
        svc = load_file(file)
        services[svc.service] = svc
    if not services:
        raise ConfigurationError(f"{path}:1: no roles file (*.json) in the roles folder")
    return RoleCatalog(services=services)

