"""The API key format: prefix, length, entropy, checksum and the digest kept at rest."""

from __future__ import annotations

import hashlib
import hmac
import math
import re

import pytest

from iam.identity import apikey_format

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def key() -> str:
    return apikey_format.generate()


def test_generate_starts_with_riam_prefix(key: str) -> None:
    assert key.startswith("riam_")


def test_generate_has_the_documented_length(key: str) -> None:
    assert len(key) == apikey_format.KEY_LENGTH == len("riam_") + 43 + 6


def test_generate_uses_only_base62_after_the_prefix(key: str) -> None:
    assert re.fullmatch(r"riam_[0-9A-Za-z]{49}", key)


def test_generate_body_carries_at_least_256_bits() -> None:
    """43 base62 characters can hold 2**256 values."""
    assert 43 * math.log2(62) >= 256


def test_generate_gives_distinct_keys() -> None:
    assert len({apikey_format.generate() for _ in range(200)}) == 200


def test_generate_uses_the_whole_body_alphabet() -> None:
    """Random bits reach every position: no fixed padding in the body of most keys."""
    firsts = {apikey_format.generate()[5] for _ in range(400)}
    assert len(firsts) > 1


def test_is_well_formed_accepts_a_generated_key(key: str) -> None:
    assert apikey_format.is_well_formed(key)


def test_is_well_formed_rejects_every_single_character_substitution(key: str) -> None:
    """Any one character changed, prefix and checksum included, is caught offline."""
    accepted = []
    for i, original in enumerate(key):
        for c in ALPHABET + "_":
            if c != original:
                typo = key[:i] + c + key[i + 1 :]
                if apikey_format.is_well_formed(typo):
                    accepted.append(typo)
    assert accepted == []


def test_is_well_formed_rejects_adjacent_transpositions(key: str) -> None:
    accepted = [
        key[:i] + key[i + 1] + key[i] + key[i + 2 :]
        for i in range(len(key) - 1)
        if key[i] != key[i + 1]
        and apikey_format.is_well_formed(key[:i] + key[i + 1] + key[i] + key[i + 2 :])
    ]
    assert accepted == []


def test_is_well_formed_rejects_every_truncation(key: str) -> None:
    assert [n for n in range(len(key)) if apikey_format.is_well_formed(key[:n])] == []


def test_is_well_formed_rejects_an_extra_character(key: str) -> None:
    assert not apikey_format.is_well_formed(key + "0")
    assert not apikey_format.is_well_formed("0" + key)


def test_is_well_formed_rejects_surrounding_whitespace(key: str) -> None:
    assert not apikey_format.is_well_formed(f" {key}")
    assert not apikey_format.is_well_formed(f"{key}\n")


@pytest.mark.parametrize("value", ["", "riam_", "riam", "x" * 54, "RIAM_" + "0" * 49,
                                   "riam_" + "0" * 49, "riam_" + "é" * 49])
def test_is_well_formed_rejects_garbage(value: str) -> None:
    assert not apikey_format.is_well_formed(value)


def test_digest_is_hmac_sha256_of_the_key(key: str) -> None:
    secret = b"s" * 32
    expected = hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()
    assert apikey_format.digest(key, secret) == expected


def test_digest_depends_on_the_server_secret(key: str) -> None:
    assert apikey_format.digest(key, b"a" * 32) != apikey_format.digest(key, b"b" * 32)


def test_digest_does_not_contain_the_key(key: str) -> None:
    d = apikey_format.digest(key, b"s" * 32)
    assert len(d) == 64
    assert key not in d and key[5:] not in d
