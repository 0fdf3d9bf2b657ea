"""The client address: forwarded headers believed only from trusted proxies (a pure table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iam.client_address import client_address, from_headers, parse_trusted_proxies
from iam.config import load_settings
from iam.errors import ConfigurationError
from iam.identity.ratelimit import counted_address

PROXIES = parse_trusted_proxies("10.0.0.0/8, 2001:db8::/32")

# (peer, X-Forwarded-For values, Forwarded values, trusted, expected client address)
CASES = [
    # nothing trusted (the default): headers are ignored, whoever sends them
    ("127.0.0.1", ["203.0.113.9"], [], (), "127.0.0.1"),
    ("127.0.0.1", [], ["for=203.0.113.9"], (), "127.0.0.1"),
    # an untrusted peer's headers are ignored
    ("198.51.100.7", ["203.0.113.9"], [], PROXIES, "198.51.100.7"),
    ("198.51.100.7", [], ["for=203.0.113.9"], PROXIES, "198.51.100.7"),
    # a trusted peer without headers is the client
    ("10.1.2.3", [], [], PROXIES, "10.1.2.3"),
    # one trusted proxy
    ("10.1.2.3", ["203.0.113.9"], [], PROXIES, "203.0.113.9"),
    ("10.1.2.3", [], ["for=203.0.113.9;proto=https;by=10.1.2.3"], PROXIES, "203.0.113.9"),
    # spoofed entries to the left of the first untrusted hop do not matter
    ("10.1.2.3", ["1.1.1.1, 203.0.113.9"], [], PROXIES, "203.0.113.9"),
    ("10.1.2.3", ["garbage, 203.0.113.9"], [], PROXIES, "203.0.113.9"),
    # a chain of trusted proxies is skipped from the right
    ("10.1.2.3", ["203.0.113.9, 10.9.9.9"], [], PROXIES, "203.0.113.9"),
    ("10.1.2.3", ["203.0.113.9", "10.9.9.9"], [], PROXIES, "203.0.113.9"),  # two headers
    ("10.1.2.3", [], ["for=203.0.113.9, for=10.9.9.9"], PROXIES, "203.0.113.9"),
    # every hop trusted: the farthest one
    ("10.1.2.3", ["10.0.0.5, 10.9.9.9"], [], PROXIES, "10.0.0.5"),
    # IPv6, with brackets and ports, quoted in Forwarded
    ("2001:db8::1", ["2600::9, 2001:db8::5"], [], PROXIES, "2600::9"),
    ("10.1.2.3", ["[2001:db8:cafe::17]:4711"], [], (), "10.1.2.3"),
    ("10.1.2.3", ["[2600::17]:4711"], [], PROXIES, "2600::17"),
    ("10.1.2.3", [], ['for="[2600::17]:4711"'], PROXIES, "2600::17"),
    ("10.1.2.3", ["203.0.113.9:5555"], [], PROXIES, "203.0.113.9"),
    ("10.1.2.3", [], ['For="203.0.113.9:5555"'], PROXIES, "203.0.113.9"),
    # IPv4-mapped peer and hops count as their IPv4 address
    ("::ffff:10.1.2.3", ["203.0.113.9"], [], PROXIES, "203.0.113.9"),
    ("10.1.2.3", ["::ffff:203.0.113.9"], [], PROXIES, "203.0.113.9"),
    # malformed values on the walk fall back to the peer
    ("10.1.2.3", ["not-an-ip"], [], PROXIES, "10.1.2.3"),
    ("10.1.2.3", [""], [], PROXIES, "10.1.2.3"),
    ("10.1.2.3", ["203.0.113.9, "], [], PROXIES, "10.1.2.3"),
    ("10.1.2.3", ["203.0.113.9, 999.1.1.1"], [], PROXIES, "10.1.2.3"),
    ("10.1.2.3", [], ["for=unknown"], PROXIES, "10.1.2.3"),
    ("10.1.2.3", [], ["for=_hidden"], PROXIES, "10.1.2.3"),
    ("10.1.2.3", [], ["proto=https"], PROXIES, "10.1.2.3"),
    ("10.1.2.3", [], ["for=203.0.113.9, by=10.0.0.1"], PROXIES, "10.1.2.3"),
    # two headers that tell different stories: neither is believed
    ("10.1.2.3", ["198.51.100.1"], ["for=203.0.113.9"], PROXIES, "10.1.2.3"),
    ("10.1.2.3", ["203.0.113.9"], ["for=203.0.113.9"], PROXIES, "203.0.113.9"),
    # a peer that is no address (the test client's) is kept as it is
    ("testclient", ["203.0.113.9"], [], PROXIES, "testclient"),
]


@pytest.mark.parametrize(("peer", "xff", "forwarded", "trusted", "expected"), CASES)
def test_client_address_table(peer: str, xff: list[str], forwarded: list[str],
                              trusted: tuple[object, ...], expected: str) -> None:
    assert client_address(peer, x_forwarded_for=xff, forwarded=forwarded,
                          trusted=trusted) == expected  # type: ignore[arg-type]


def test_client_address_from_raw_headers_reads_both_header_names() -> None:
    headers = [(b"x-forwarded-for", b"203.0.113.9"), (b"forwarded", b"for=203.0.113.9")]
    assert from_headers("10.1.2.3", headers, PROXIES) == "203.0.113.9"


def test_client_address_from_raw_headers_ignores_them_without_trusted_proxies() -> None:
    assert from_headers("127.0.0.1", [(b"x-forwarded-for", b"203.0.113.9")], ()) == "127.0.0.1"


@pytest.mark.parametrize(("value", "count"), [
    ("", 0), ("10.0.0.0/8", 1), ("10.0.0.0/8,2001:db8::/32", 2), (" 127.0.0.1 , ::1 ", 2),
    ("10.0.0.1/8", 1),  # host bits are forgiven: the network is meant
])
def test_trusted_proxies_parse(value: str, count: int) -> None:
    assert len(parse_trusted_proxies(value)) == count


@pytest.mark.parametrize("value", ["10.0.0.0/33", "localhost", "10.0.0.0/8;10.1.0.0/16",
                                   "2001:db8::/129"])
def test_invalid_trusted_proxies_stop_the_service_naming_the_setting(
        value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAM_TRUSTED_PROXIES", value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(data_dir="/nonexistent")
    assert "IAM_TRUSTED_PROXIES" in caught.value.message
    assert "10.0.0.0/8,2001:db8::/32" in caught.value.message  # says what to write


def test_trusted_proxies_default_to_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IAM_TRUSTED_PROXIES", raising=False)
    assert load_settings(data_dir="/nonexistent").trusted_networks == ()


@pytest.mark.parametrize(("address", "counted"), [
    ("203.0.113.9", "203.0.113.9"),
    ("2600:1:2:3:4:5:6:7", "2600:1:2:3::/64"),
    ("2600:1:2:3:ffff::1", "2600:1:2:3::/64"),  # the same /64: one subscriber, one count
    ("::ffff:203.0.113.9", "203.0.113.9"),
    ("testclient", "testclient"),
])
def test_limits_count_ipv6_clients_per_64(address: str, counted: str) -> None:
    assert counted_address(address) == counted


def test_trusted_proxies_are_read_from_the_config_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('trusted_proxies = "10.0.0.0/8"\n')
    monkeypatch.delenv("IAM_TRUSTED_PROXIES", raising=False)
    monkeypatch.setenv("IAM_CONFIG_FILE", str(config))
    assert [str(n) for n in load_settings().trusted_networks] == ["10.0.0.0/8"]
