"""Claim conditions, pure: does a token's claim set meet `{claim, operator, value}`?

A claim is named by its path, dots between levels, the longest key first at each level, so
`kubernetes.io.namespace` finds `{"kubernetes.io": {"namespace": ...}}` and a flat
`repository_owner` is itself. Operators follow IBM's claim rules: EQUALS, NOT_EQUALS,
EQUALS_IGNORE_CASE, NOT_EQUALS_IGNORE_CASE, CONTAINS (a substring of a string claim, or an
element of a list of strings) and IN (the claim is one of a list). Apart from CONTAINS on a
list, a claim must be a string: a list, a number or an object where a string is expected
fails, as does a missing claim, whatever the operator (NOT_EQUALS included: an absent claim
proves nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iam.errors import InvalidInput

OPERATORS = ("EQUALS", "NOT_EQUALS", "EQUALS_IGNORE_CASE", "NOT_EQUALS_IGNORE_CASE",
             "CONTAINS", "IN")
MAX_CONDITIONS = 32
MAX_CLAIM = 256
MAX_VALUE = 1024
MAX_IN_VALUES = 64
_MISSING = object()


@dataclass(frozen=True)
class Condition:
    claim: str
    operator: str
    value: str | tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"claim": self.claim, "operator": self.operator, "value": value}

    def __str__(self) -> str:
        value = json.dumps(list(self.value) if isinstance(self.value, tuple) else self.value)
        return f"{self.claim} {self.operator} {value}"


def claim_value(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at `path` (see above), or `_MISSING`."""
    if path in claims:
        return claims[path]
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        inner = claims.get(head)
        if isinstance(inner, Mapping):
            found = claim_value(inner, ".".join(parts[cut:]))
            if found is not _MISSING:
                return found
    return _MISSING


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__


def failure(condition: Condition, claims: Mapping[str, Any]) -> str | None:
    """None when the condition holds; otherwise why not, in words."""
    found = claim_value(claims, condition.claim)
    if found is _MISSING:
        return f"{condition}: the token has no claim {condition.claim}"
    op, value = condition.operator, condition.value
    if op == "CONTAINS" and isinstance(found, list):
        if all(isinstance(v, str) for v in found) and value in found:
            return None
        return f"{condition}: the list {json.dumps(found)[:200]} does not contain it"
    if not isinstance(found, str):
        return f"{condition}: claim {condition.claim} is {_kind(found)}, not a string"
    holds = {
        "EQUALS": lambda: found == value,
        "NOT_EQUALS": lambda: found != value,
        "EQUALS_IGNORE_CASE": lambda: found.casefold() == str(value).casefold(),
        "NOT_EQUALS_IGNORE_CASE": lambda: found.casefold() != str(value).casefold(),
        "CONTAINS": lambda: str(value) in found,
        "IN": lambda: found in value,
    }[op]()
    return None if holds else f"{condition}: the token says {json.dumps(found)[:200]}"


def failures(conditions: Iterable[Condition], claims: Mapping[str, Any]) -> list[str]:
    return [why for c in conditions if (why := failure(c, claims)) is not None]


def _text(value: Any, *, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidInput(f"{field} must be a string of 1 to {limit} characters",
                           target=field)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(f"{field} must not contain control characters", target=field)
    return value


def parse(raw: Any) -> tuple[Condition, ...]:
    """Conditions from their JSON form (`[{claim, operator, value}]`), or InvalidInput
    naming what is wrong. For IN the value is a list of strings (a JSON array in a string
    is read too, as IBM writes it)."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("a rule needs at least one condition: "
                           "[{\"claim\", \"operator\", \"value\"}]", target="conditions")
    if len(raw) > MAX_CONDITIONS:
        raise InvalidInput(f"at most {MAX_CONDITIONS} conditions", target="conditions")
    parsed = []
    for item in raw:
        if not isinstance(item, Mapping) or set(item) - {"claim", "operator", "value"}:
            raise InvalidInput("each condition is {\"claim\", \"operator\", \"value\"}",
                               target="conditions")
        claim = _text(item.get("claim"), field="conditions.claim", limit=MAX_CLAIM)
        operator = item.get("operator")
        if operator not in OPERATORS:
            raise InvalidInput(f"unknown operator {str(operator)[:40]!r}; use one of "
                               f"{', '.join(OPERATORS)}", target="conditions.operator")
        value = item.get("value")
        if operator == "IN":
            if isinstance(value, str) and value.startswith("["):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise InvalidInput("value of IN is a list of strings",
                                       target="conditions.value") from None
            if (not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES):
                raise InvalidInput(f"value of IN is a list of 1 to {MAX_IN_VALUES} strings",
                                   target="conditions.value")
            parsed.append(Condition(claim, operator, tuple(
                _text(v, field="conditions.value", limit=MAX_VALUE) for v in value)))
        else:
            parsed.append(Condition(claim, str(operator), _text(
                value, field="conditions.value", limit=MAX_VALUE)))
    return tuple(parsed)


def dump(conditions: Iterable[Condition]) -> str:
    return json.dumps([c.as_json() for c in conditions], separators=(",", ":"))


def load(stored: str) -> tuple[Condition, ...]:
    """Conditions as stored (written by `dump`: already checked)."""
    return tuple(Condition(c["claim"], c["operator"],
                           tuple(c["value"]) if isinstance(c["value"], list) else c["value"])
                 for c in json.loads(stored))
