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
from typing import Protocol

from iam.errors import RateLimited

log = logging.getLogger("iam.ratelimit")


class Counter(Protocol):
    def get(self, key: str) -> tuple[int, int]:
        """(failures in the current window, seconds until it ends)."""

    def hit(self, key: str, window: int) -> None: ...


class MemoryCounter:
    def __init__(self) -> None:
        self._data: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
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

    def get(self, key: str) -> tuple[int, int]:
        pipe = self._redis.pipeline()
        pipe.get(key)
        pipe.ttl(key)
        value, ttl = pipe.execute()
        count = int(value) if value is not None else 0
        return count, max(int(ttl), 1) if count else 0

    def hit(self, key: str, window: int) -> None:
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, window, nx=True)
        pipe.execute()


def _subject_key(kind: str, value: str) -> str:
    # Never keep a presented secret, even in memory or Redis: only a hash of it.
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

    @staticmethod
    def subjects(*, client_ip: str, credential: str | None = None,
                 username: str | None = None) -> list[str]:
        keys = [_subject_key("ip", client_ip)]
        if credential:
            keys.append(_subject_key("key", credential))
        if username:
            keys.append(_subject_key("user", username.lower()))
        return keys

    def check(self, subjects: list[str]) -> None:
        """Raise RateLimited if any subject is over its limit."""
        try:
            worst = max((self._counter.get(s) for s in subjects), default=(0, 0))
        except Exception as exc:  # Redis down: fail open, loudly
            log.warning("rate limiter unavailable (%s); allowing the attempt",
                        type(exc).__name__)
            return
        if worst[0] >= self.max_failures:
            raise RateLimited(worst[1])

    def failed(self, subjects: list[str]) -> None:
        try:
            for subject in subjects:
                self._counter.hit(subject, self.window)
        except Exception as exc:
            log.warning("rate limiter unavailable (%s); failure not counted",
                        type(exc).__name__)
