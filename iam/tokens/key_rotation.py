"""Signing key rotation: publish first, sign later, retire only when nothing depends on it.

A key's life: **pending** (published in the bundle and JWKS, not signing yet, until its
`activate_at`), **active** (the newest key whose time has come signs everything), then
**retired** once a newer key is active. A retired key stays published until every token it
signed has expired — registry tokens, IAM access tokens and refresh tokens alike, so the
longest TTL counts — plus the registries' clock leeway; then `prune` deletes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from iam.config import Settings
from iam.errors import InvalidInput
from iam.tokens.signing import SigningKey, generate_key, load_keys, remove_key

LEEWAY = timedelta(seconds=60)  # distribution accepts tokens up to 60 s past `exp`
MAX_ACTIVATE_AFTER = 30 * 24 * 3600

State = Literal["pending", "active", "retired"]


@dataclass(frozen=True)
class KeyStatus:
    key: SigningKey
    state: State
    retired_at: datetime | None = None  # when a newer key took over
    prunable_at: datetime | None = None  # when every token it signed has expired


def longest_token_ttl(settings: Settings) -> timedelta:
    return timedelta(seconds=max(settings.token_ttl, settings.access_token_ttl,
                                 settings.refresh_token_ttl))


def key_states(keys: list[SigningKey], *, now: datetime,
               max_ttl: timedelta) -> list[KeyStatus]:
    """The state of each key (oldest activation first) at `now`."""
    ordered = sorted(keys, key=lambda k: (k.activate_at, k.created_at))
    ready = [k for k in ordered if k.activate_at <= now]
    active = ready[-1] if ready else (ordered[0] if ordered else None)
    states: list[KeyStatus] = []
    for index, key in enumerate(ordered):
        if key is active:
            states.append(KeyStatus(key, "active"))
        elif key.activate_at > now:
            states.append(KeyStatus(key, "pending"))
        else:
            successor = next(k for k in ordered[index + 1:] if k.activate_at <= now)
            retired = successor.activate_at
            states.append(KeyStatus(key, "retired", retired, retired + max_ttl + LEEWAY))
    return states


def rotate(settings: Settings, *, activate_after: int,
           now: datetime | None = None) -> SigningKey:
    """Create the next key: published at once, signing from `now + activate_after`."""
    if not 0 <= activate_after <= MAX_ACTIVATE_AFTER:
        raise InvalidInput(f"--activate-after must be between 0 and {MAX_ACTIVATE_AFTER} s")
    start = (now or datetime.now(UTC)) + timedelta(seconds=activate_after)
    return generate_key(settings.keys_dir, alg=settings.signing_alg, issuer=settings.issuer,
                        activate_at=start)


def prune(settings: Settings, *, now: datetime | None = None) -> list[SigningKey]:
    """Delete the retired keys whose every token has expired; returns what was deleted."""
    moment = now or datetime.now(UTC)
    states = key_states(load_keys(settings.keys_dir), now=moment,
                        max_ttl=longest_token_ttl(settings))
    pruned = [s.key for s in states
              if s.state == "retired" and s.prunable_at is not None and s.prunable_at <= moment]
    for key in pruned:
        remove_key(settings.keys_dir, key.name)
    return pruned


def statuses(settings: Settings, *, keys_dir: Path | None = None) -> list[KeyStatus]:
    return key_states(load_keys(keys_dir or settings.keys_dir), now=datetime.now(UTC),
                      max_ttl=longest_token_ttl(settings))
