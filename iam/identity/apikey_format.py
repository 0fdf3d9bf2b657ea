"""API key format: `riam_` + 43 base62 characters (256 random bits) + 6 base62 checksum.

The prefix lets secret scanners spot a leaked key; the CRC32 checksum lets them (and us)
reject a mistyped or truncated key offline, before any database look-up. At rest only
HMAC-SHA256(server secret, key) is kept: a key has 256 bits of entropy, so a slow password
hash would add cost to every `docker push` without adding safety.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib

PREFIX = "riam_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LEN = 43  # ceil(256 / log2(62))
_CHECK_LEN = 6  # 62**6 > 2**32
KEY_LENGTH = len(PREFIX) + _BODY_LEN + _CHECK_LEN
_SHAPE = re.compile(rf"^{PREFIX}[0-9A-Za-z]{{{_BODY_LEN + _CHECK_LEN}}}$")


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 62)
        digits.append(_ALPHABET[rem])
    return "".join(reversed(digits)).rjust(width, "0")


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(f"{PREFIX}{body}".encode()), _CHECK_LEN)


def generate() -> str:
    """A new API key value. It is shown to its owner once and never stored."""
    body = _base62(secrets.randbits(256), _BODY_LEN)
    return f"{PREFIX}{body}{_checksum(body)}"


def is_well_formed(value: str) -> bool:
    """Whether `value` has our shape and a valid checksum (no database needed)."""
    if len(value) != KEY_LENGTH or not _SHAPE.match(value):
        return False
    body, check = value[len(PREFIX) : -_CHECK_LEN], value[-_CHECK_LEN:]
    return hmac.compare_digest(check, _checksum(body))


def digest(value: str, secret: bytes) -> str:
    """The keyed hash stored and indexed in place of the key."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()
