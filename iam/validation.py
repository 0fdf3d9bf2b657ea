"""Rules every user-supplied name and description must follow."""

from __future__ import annotations

import unicodedata

from iam.errors import InvalidInput

MAX_NAME = 256
MAX_DESCRIPTION = 1024


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in value)


def clean_name(value: str, *, field: str = "name", max_length: int = MAX_NAME) -> str:
    """A name: 1..max_length characters after trimming, no control or invisible characters."""
    value = value.strip()
    if not value:
        raise InvalidInput(f"{field} must not be empty", target=field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters", target=field)
    if _has_control(value):
        raise InvalidInput(f"{field} must not contain control characters", target=field)
    return value


def clean_description(value: str | None, *, field: str = "description") -> str:
    if value is None:
        return ""
    if len(value) > MAX_DESCRIPTION:
        raise InvalidInput(f"{field} must be at most {MAX_DESCRIPTION} characters", target=field)
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") and c not in "\n\t"
           for c in value):
        raise InvalidInput(f"{field} must not contain control characters", target=field)
    return value
