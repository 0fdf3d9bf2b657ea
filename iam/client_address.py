"""Who the client is: the TCP peer, or what trusted proxies say it is.

`X-Forwarded-For` and `Forwarded` (RFC 7239) can be written by anyone, so they are believed
only when the peer is a proxy listed in `IAM_TRUSTED_PROXIES`, and then only as far as the
chain of trusted proxies goes: walking from the right (the hop nearest to us), each trusted
hop is skipped and the first untrusted address is the client. Anything malformed on that
walk, or two headers telling different stories, falls back to the peer: a client that cannot
be placed is counted and audited as the proxy, never as an address it chose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_trusted_proxies(value: str, *, setting: str = "IAM_TRUSTED_PROXIES"
                          ) -> tuple[Network, ...]:
    """`10.0.0.0/8, 2001:db8::/32, 192.0.2.7` to networks; ValueError naming `setting` and
    the bad entry."""
    networks: list[Network] = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"{setting}: {entry[:60]!r} is not an address or CIDR network; "
                "write networks separated by commas, e.g. "
                "10.0.0.0/8,2001:db8::/32 (or leave it empty for none)") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    """An address from `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.partition(":")[0]
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def in_networks(address: str, networks: Sequence[Network]) -> bool:
    """Whether `address` (as `from_headers` gives it) lies in one of `networks`."""
    found = _address(address)
    return found is not None and _trusted(found, networks)


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def _forwarded_for(values: Sequence[str]) -> list[str] | None:
    """The `for=` of each RFC 7239 element, in order; None when an element has none."""
    found: list[str] = []
    for element in ",".join(values).split(","):
        for pair in element.split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name.strip().lower() == "for":
                found.append(value)
                break
        else:
            return None
    return found


def _walk(chain: list[str], trusted: Sequence[Network]) -> Address | None:
    """From the right: the first hop that is not a trusted proxy (None: malformed)."""
    address: Address | None = None
    for hop in reversed(chain):
        address = _address(hop)
        if address is None:
            return None
        if not _trusted(address, trusted):
            return address
    return address  # every hop a trusted proxy: the farthest one is all we know


def client_address(peer: str, *, x_forwarded_for: Sequence[str] = (),
                   forwarded: Sequence[str] = (), trusted: Sequence[Network] = ()) -> str:
    """The client's address: `peer` unless it is a trusted proxy that forwarded one."""
    if not trusted or not (x_forwarded_for or forwarded):
        return peer
    peer_address = _address(peer)
    if peer_address is None or not _trusted(peer_address, trusted):
        return peer
    answers: set[Address | None] = set()
    if x_forwarded_for:
        answers.add(_walk(",".join(x_forwarded_for).split(","), trusted))
    if forwarded:
        hops = _forwarded_for(forwarded)
        answers.add(_walk(hops, trusted) if hops is not None else None)
    if len(answers) != 1 or None in answers:
        return peer
    return str(answers.pop())


def from_headers(peer: str, headers: Sequence[tuple[bytes, bytes]],
                 trusted: Sequence[Network]) -> str:
    """`client_address` from raw ASGI headers (names lower-case, as servers give them)."""
    if not trusted:
        return peer  # the default: no header is even looked at
    xff = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
    fwd = [v.decode("latin-1") for k, v in headers if k == b"forwarded"]
    return client_address(peer, x_forwarded_for=xff, forwarded=fwd, trusted=trusted)
