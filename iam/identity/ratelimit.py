"""Brute-force limits on failed authentications, counted per client address.

Built so that a stranger's failures cannot be turned against anyone else's success:

- 256-bit credentials (API keys, refresh and access tokens) are checked first; a correct
  one never reaches the limiter. A failed one counts against its address (`key_failed`),
  and from an address over the limit it is answered 429 instead of 401.
- Passwords (argon2, guessable) are checked against the limiter *before* hashing: per
  address (`PASSWORD_ADDRESS_FACTOR` times the limit, so one address cannot spray many
  names nor buy unbounded argon2 work) and per (user name, address). The name alone is never
  a subject, so failures from elsewhere cannot lock a user out of their own address.

IPv6 clients are counted per /64, which one subscriber usually holds whole. Counters are
fixed windows: in process by default, in Redis when `IAM_REDIS_URL` is set so that every
replica shares them. If Redis is unreachable the limiter fails open for that attempt
(logging it) rather than locking everyone out.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
import time
from typing import Protocol

from iam.errors import RateLimited
from iam.names import name_key

log = logging.getLogger("iam.ratelimit")

#: Password failures allowed per address per window, as a multiple of the per-name limit.
PASSWORD_ADDRESS_FACTOR = 5
MAX_MEMORY_ENTRIES = 100_000


class Counter(Protocol):
    def empty(self) -> bool:
        """True when no failure is counted at all (nothing to look up)."""

    def get_many(self, keys: list[str]) -> list[tuple[int, int]]:
        """Per key: (failures in the current window, seconds until it ends)."""

    def hit(self, key: str, window: int) -> tuple[int, int]:
        """Count one failure; the key's (failures, seconds until its window ends) after."""


class MemoryCounter:
    def __init__(self, max_entries: int = MAX_MEMORY_ENTRIES) -> None:
        self._data: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def empty(self) -> bool:
        return not self._data

    def __len__(self) -> int:
        return len(self._data)

    def get_many(self, keys: list[str]) -> list[tuple[int, int]]:
        now = time.monotonic()
        with self._lock:
            return [self._get(key, now) for key in keys]

    def _get(self, key: str, now: float) -> tuple[int, int]:
        count, ends = self._data.get(key, (0, now))
        if ends <= now:
            self._data.pop(key, None)
            return 0, 0
        return count, max(1, int(ends - now + 0.999))

    def hit(self, key: str, window: int) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            if len(self._data) >= self._max_entries:
                self._shrink(now)
            count, ends = self._data.get(key, (0, now + window))
            if ends <= now:
                count, ends = 0, now + window
            self._data[key] = (count + 1, ends)
        return count + 1, max(1, int(ends - now + 0.999))

    def _shrink(self, now: float) -> None:
        """Bounded memory under a spray of addresses: expired entries go, then the oldest
        half (a sprayer can forget its own counts, never make anyone's success fail)."""
        self._data = {k: v for k, v in self._data.items() if v[1] > now}
        if len(self._data) >= self._max_entries:
            keep = list(self._data.items())[len(self._data) // 2:]
            self._data = dict(keep)


class RedisCounter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def empty(self) -> bool:
        return False  # only Redis knows

    def get_many(self, keys: list[str]) -> list[tuple[int, int]]:
        pipe = self._redis.pipeline(transaction=False)  # one round trip for every subject
        for key in keys:
            pipe.get(key)
            pipe.ttl(key)
        answers = pipe.execute()
        found = []
        for value, ttl in zip(answers[::2], answers[1::2], strict=True):
            count = int(value) if value is not None else 0
            found.append((count, max(int(ttl), 1) if count else 0))
        return found

    def hit(self, key: str, window: int) -> tuple[int, int]:
        pipe = self._redis.pipeline()  # one round trip: count, start the window, read it
        pipe.incr(key)
        pipe.expire(key, window, nx=True)
        pipe.ttl(key)
        count, _, ttl = pipe.execute()
        return int(count), max(int(ttl), 1)


def counted_name(username: str) -> str:
    """The name a password attempt counts against: the user name as sign-in compares it
    (`name_key`), without an `@account` suffix, so that `alice`, `ALICE@<account>` and a
    full-width `alice` (one user to the sign-in) are one subject, not three budgets."""
    name = username.rpartition("@")[0] if "@" in username else username
    return name_key(name)


def counted_address(client_ip: str) -> str:
    """What an address is counted as: itself, or its /64 for IPv6."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _subject_key(kind: str, *parts: str) -> str:
    # Uniform keys of bounded length whatever was presented (a name may be 4 KiB).
    value = "\x1f".join(parts)
    return f"iam:fail:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


class FailureLimiter:
    def __init__(self, counter: Counter, *, max_failures: int, window: int) -> None:
        self._counter = counter
        self.max_failures = max_failures
        self.window = window

    @classmethod
    def from_url(cls, redis_url: str | None, *, max_failures: int,
                 window: int) -> FailureLimiter:
        counter: Counter = RedisCounter(redis_url) if redis_url else MemoryCounter()
        return cls(counter, max_failures=max_failures, window=window)

    # -- 256-bit credentials: checked first, counted only when they fail -------------------

    def key_failed(self, *, client_ip: str) -> None:
        """Count a failed key or token; RateLimited when its address is over the limit."""
        try:
            count, retry_after = self._counter.hit(
                _subject_key("key-ip", counted_address(client_ip)), self.window)
        except Exception as exc:  # Redis down: fail open, loudly
            log.warning("rate limiter unavailable (%s); failure not counted",
                        type(exc).__name__)
            return
        if count > self.max_failures:
            raise RateLimited(retry_after)

    # -- passwords: limited before the argon2 hash -----------------------------------------

    def _password_subjects(self, client_ip: str, username: str) -> list[tuple[str, int]]:
        address = counted_address(client_ip)
        return [(_subject_key("pw-ip", address), self.max_failures * PASSWORD_ADDRESS_FACTOR),
                (_subject_key("pw-user-ip", counted_name(username), address),
                 self.max_failures)]

    def check_password(self, *, client_ip: str, username: str) -> None:
        """RateLimited when the address, or this name from this address, is over its limit."""
        try:
            if self._counter.empty():  # the usual case: no failure counted anywhere
                return
            subjects = self._password_subjects(client_ip, username)
            counts = self._counter.get_many([key for key, _ in subjects])
        except Exception as exc:  # Redis down: fail open, loudly
            log.warning("rate limiter unavailable (%s); allowing the attempt",
                        type(exc).__name__)
            return
        over = [retry for (count, retry), (_, limit) in zip(counts, subjects, strict=True)
                if count >= limit]
        if over:
            raise RateLimited(max(over))

    def password_failed(self, *, client_ip: str, username: str) -> None:
        try:
            for key, _ in self._password_subjects(client_ip, username):
                self._counter.hit(key, self.window)
        except Exception as exc:
            log.warning("rate limiter unavailable (%s); failure not counted",
                        type(exc).__name__)
