"""The failure limiter, on both counters: in memory and in the real Redis.

Each test counts against its own made-up client addresses, so runs sharing a Redis database
never meet (keys expire with their window).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable

import pytest

from iam.errors import RateLimited
from iam.identity.ratelimit import (
    PASSWORD_ADDRESS_FACTOR,
    Counter,
    FailureLimiter,
    MemoryCounter,
    RedisCounter,
)
from tests.workers import redis_url

COUNTERS: dict[str, Callable[[], Counter]] = {
    "memory": MemoryCounter,
    "redis": lambda: RedisCounter(redis_url()),
}


@pytest.fixture(params=list(COUNTERS))
def limiter(request: pytest.FixtureRequest) -> FailureLimiter:
    return FailureLimiter(COUNTERS[request.param](), max_failures=3, window=30)


def _address() -> str:
    return f"test-{uuid.uuid4().hex}"


def test_failed_keys_are_refused_over_the_limit(limiter: FailureLimiter) -> None:
    address = _address()
    for _ in range(3):
        limiter.key_failed(client_ip=address)
    with pytest.raises(RateLimited) as refused:
        limiter.key_failed(client_ip=address)
    assert 1 <= refused.value.retry_after <= 30


def test_failed_keys_of_one_address_spare_another(limiter: FailureLimiter) -> None:
    address = _address()
    for _ in range(3):
        limiter.key_failed(client_ip=address)
    limiter.key_failed(client_ip=_address())  # no RateLimited


def test_failed_keys_do_not_limit_passwords(limiter: FailureLimiter) -> None:
    address = _address()
    for _ in range(5):
        with contextlib.suppress(RateLimited):
            limiter.key_failed(client_ip=address)
    limiter.check_password(client_ip=address, username="alice")  # no RateLimited


def test_password_is_refused_per_name_and_address(limiter: FailureLimiter) -> None:
    address = _address()
    for _ in range(3):
        limiter.check_password(client_ip=address, username="alice")
        limiter.password_failed(client_ip=address, username="Alice")
    with pytest.raises(RateLimited) as refused:
        limiter.check_password(client_ip=address, username="alice")
    assert 1 <= refused.value.retry_after <= 30


def test_every_spelling_of_one_user_name_shares_its_budget(limiter: FailureLimiter) -> None:
    """Sign-in finds `alice` by its name key, with or without `@account`: so must the count."""
    address = _address()
    for spelling in ("alice", "ALICE@Account-1234", "\uff41\uff4c\uff49\uff43\uff45"):
        limiter.check_password(client_ip=address, username=spelling)
        limiter.password_failed(client_ip=address, username=spelling)
    with pytest.raises(RateLimited):
        limiter.check_password(client_ip=address, username=" Alice ")


def test_password_failures_elsewhere_never_lock_the_name_out(limiter: FailureLimiter) -> None:
    for _ in range(3):
        stranger = _address()
        for _ in range(3):
            limiter.password_failed(client_ip=stranger, username="alice")
    limiter.check_password(client_ip=_address(), username="alice")  # no RateLimited


def test_password_spraying_is_refused_per_address(limiter: FailureLimiter) -> None:
    address = _address()
    for i in range(3 * PASSWORD_ADDRESS_FACTOR):
        limiter.check_password(client_ip=address, username=f"name{i}")
        limiter.password_failed(client_ip=address, username=f"name{i}")
    with pytest.raises(RateLimited):
        limiter.check_password(client_ip=address, username="someone-new")


def test_unreachable_redis_fails_open_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    limiter = FailureLimiter(RedisCounter("redis://127.0.0.1:1/0"), max_failures=1, window=30)
    with caplog.at_level(logging.WARNING, logger="iam.ratelimit"):
        for _ in range(3):
            limiter.key_failed(client_ip="192.0.2.1")
            limiter.check_password(client_ip="192.0.2.1", username="alice")
            limiter.password_failed(client_ip="192.0.2.1", username="alice")
    assert "rate limiter unavailable" in caplog.text


def test_memory_counter_stays_bounded_under_a_spray_of_addresses() -> None:
    counter = MemoryCounter(max_entries=10)
    limiter = FailureLimiter(counter, max_failures=3, window=30)
    for _ in range(100):
        limiter.key_failed(client_ip=_address())
    assert len(counter) <= 10
