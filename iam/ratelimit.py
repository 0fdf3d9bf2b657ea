"""Brute-force limits on failed authentications, per client IP, per key and per user name.

Only failures count; a client over its limit gets `RateLimited` (429 + Retry-After) before
its credentials are even looked at, whether or not the key or user exists, while other
clients are unaffected. Counters are fixed windows: in process by default, in Redis when
`IAM_REDIS_URL` is set so that every replica shares them. If Redis is unreachable the
limiter fails open for that request (logging it) rather than locking everyone out.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from iam.errors import RateLimited

log = logging.getLogger("iam.ratelimit")


class Counter(Protocol):
    def empty(self) -> bool:
        """True when no failure is counted at all (nothing to look up)."""

    def get_many(self, keys: list[str]) -> list[tuple[int, int]]:
        """Per key: (failures in the current window, seconds until it ends)."""

    def hit(self, key: str, window: int) -> None: ...


class MemoryCounter:
    def __init__(self) -> None:
        self._data: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def empty(self) -> bool:
        return not self._data

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

    def hit(self, key: str, window: int) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._data) > 100_000:  # bounded memory under a spray of keys
                self._data = {k: v for k, v in self._data.items() if v[1] > now}
            count, ends = self._data.get(key, (0, now + window))
            if ends <= now:
                count, ends = 0, now + window
            self._data[key] = (count + 1, ends)


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

    def hit(self, key: str, window: int) -> None:
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, window, nx=True)
        pipe.execute()


def _subject_key(kind: str, value: str) -> str:
    # Never keep a presented secret, even in memory or Redis: only a hash of it.
    return f"iam:fail:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class Subjects:
    """What one attempt counts against: its client IP, the credential, the user name."""

    client_ip: str
    credential: str | None = field(default=None, repr=False)
    username: str | None = None

    @cached_property
    def keys(self) -> list[str]:  # hashed only when a counter is consulted
        keys = [_subject_key("ip", self.client_ip)]
        if self.credential:
            keys.append(_subject_key("key", self.credential))
        if self.username:
            keys.append(_subject_key("user", self.username.lower()))
        return keys


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

    @staticmethod
    def subjects(*, client_ip: str, credential: str | None = None,
                 username: str | None = None) -> Subjects:
        return Subjects(client_ip, credential, username)

    def check(self, subjects: Subjects) -> None:
        """Raise RateLimited if any subject is over its limit."""
        try:
            if self._counter.empty():  # the usual case: no failure counted anywhere
                return
            worst = max(self._counter.get_many(subjects.keys), default=(0, 0))
        except Exception as exc:  # Redis down: fail open, loudly
            log.warning("rate limiter unavailable (%s); allowing the attempt",
                        type(exc).__name__)
            return
        if worst[0] >= self.max_failures:
            raise RateLimited(worst[1])

    def failed(self, subjects: Subjects) -> None:
        try:
            for subject in subjects.keys:
                self._counter.hit(subject, self.window)
        except Exception as exc:
            log.warning("rate limiter unavailable (%s); failure not counted",
                        type(exc).__name__)
