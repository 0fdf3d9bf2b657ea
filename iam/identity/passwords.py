"""User passwords: argon2id through passlib. All passlib use stays in this module."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # passlib 1.7.4 imports the stdlib `crypt` module, deprecated since Python 3.11;
    # we use only its argon2 handler (argon2-cffi), never `crypt`.
    warnings.simplefilter("ignore", DeprecationWarning)
    # argon2-cffi deprecates `argon2.__version__`, which passlib reads when it loads the
    # backend; load it here, once, under the same filter.
    from passlib.context import CryptContext

    # OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    _context = CryptContext(
        schemes=["argon2"],
        deprecated="auto",
        argon2__type="ID",
        argon2__memory_cost=19456,
        argon2__time_cost=2,
        argon2__parallelism=1,
    )
    _DUMMY_HASH = _context.hash("not-a-real-password-but-a-timing-equaliser")

MIN_LENGTH = 8
MAX_LENGTH = 256


def hash_password(password: str) -> str:
    return str(_context.hash(password))


# _DUMMY_HASH is verified against when the user is unknown, so both paths cost the same.


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-cost check; `None` (unknown user) still spends one verification."""
    if password_hash is None:
        _context.verify(password, _DUMMY_HASH)
        return False
    return bool(_context.verify(password, password_hash))


def check_strength(password: str) -> str | None:
    """A reason the password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"password must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password must be at most {MAX_LENGTH} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        return "password must not contain control characters"
    return None
