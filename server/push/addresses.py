"""Which network addresses a push endpoint may reach: public ones only, outside development."""

from __future__ import annotations

import ipaddress

__all__ = ["public_ip"]

# IPv6 forms that carry an IPv4 address in their last 32 bits (IPv4-compatible, NAT64): judged by
# that address, since a gateway on the way would deliver to it.
_CARRY_IPV4 = (
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


def public_ip(text: str) -> bool | None:
    """Whether ``text`` is a public IP address; ``None`` when it is not an IP address (a name)."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if inner is None and any(address in network for network in _CARRY_IPV4):
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return inner.is_global and address.is_global
    return address.is_global
