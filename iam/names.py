"""Rules every user-supplied name and description must follow, and the key names are
compared by.

A name is shown as typed but compared by its *key*: NFKC (full-width letters, ligatures and
compatibility forms become their plain letters; combining and precomposed accents become
one form), case-folded, NFKC again (case folding can undo normalisation), with runs of
white space made one space. Full-width `rtalice`, `RTAlice` and `rtalice` share one key,
so one cannot be created beside another to impersonate it. The database holds the key in a unique
index (migration 0003); this module is the one place that computes it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from iam.errors import Conflict, InvalidInput

MAX_NAME = 256
MAX_DESCRIPTION = 1024
#: A key's bound in UTF-8 bytes: NFKC can expand one character into up to 18, and a
#: PostgreSQL btree entry must stay under ~2.7 KB.
MAX_NAME_KEY_BYTES = 1024
#: Unicode categories refused in names: control, format (zero-width, bidi overrides such
#: as U+200B, U+202E), surrogates, private use and unassigned.
_REFUSED = ("Cc", "Cf", "Cs", "Co", "Cn")


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) in _REFUSED for c in value)


def name_key(value: str) -> str:
    """What names are compared by: NFKC, case-folded, white space collapsed (see above)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return " ".join(folded.split())


def clean_name(value: str, *, field: str = "name", max_length: int = MAX_NAME) -> str:
    """A name: 1..max_length characters after trimming, no control or invisible characters,
    and a comparison key of bounded size."""
    value = value.strip()
    if not value:
        raise InvalidInput(f"{field} must not be empty", target=field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} must be at most {max_length} characters", target=field)
    if _has_control(value):
        raise InvalidInput(f"{field} must not contain control or invisible formatting "
                           "characters (such as U+200B or U+202E)", target=field)
    if len(name_key(value).encode()) > MAX_NAME_KEY_BYTES:
        raise InvalidInput(f"{field} is too long once normalised (at most "
                           f"{MAX_NAME_KEY_BYTES} bytes of UTF-8)", target=field)
    return value


def clean_description(value: str | None, *, field: str = "description") -> str:
    if value is None:
        return ""
    if len(value) > MAX_DESCRIPTION:
        raise InvalidInput(f"{field} must be at most {MAX_DESCRIPTION} characters", target=field)
    if any(unicodedata.category(c) in _REFUSED and c not in "\n\t" for c in value):
        raise InvalidInput(f"{field} must not contain control characters", target=field)
    return value


def renamed(name: str | None, description: str | None = None, *, keyed: bool = True,
            clean: Callable[[str], str] = clean_name) -> dict[str, str]:
    """The columns an update sets for a new name and description (None: left as it is),
    checked; with `keyed`, the name's key beside it."""
    values: dict[str, str] = {}
    if name is not None:
        values["name"] = clean(name)
        if keyed:
            values["name_key"] = name_key(values["name"])
    if description is not None:
        values["description"] = clean_description(description)
    return values


def taken(entity: str, name: str | None) -> Conflict:
    """Refuses a second `entity` ("a user") whose name has the key of one in the account."""
    return Conflict(f"{entity} named {name!r} (or a name that differs only in case or Unicode "
                    "form) already exists in this account", target="name")
