"""Who a limit counts: one client, from the address a request came from.

Every limit on failures or requests (failed verifications, failed staff sign-ins, the
request limiter) counts the same client for the same address, through ``address_hash``:
an IPv4 address as itself, an IPv6 address by its /64 (one subscriber's network, inside
which a client can pick any of 2**64 addresses), and an IPv4 address written as IPv6
(``::ffff:203.0.113.7``) as that IPv4 address. The audit log and consent records keep
the address itself; only counting groups it.
"""

from __future__ import annotations

import hashlib
import ipaddress


def client_of(address: str) -> str:
    """The client an address belongs to, for counting (see the module's note); text that
    is not an address stands for itself."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def address_hash(address: str) -> str:
    """The client of an address, hashed: enough to count attempts, not to identify
    anyone. The one key every stored and in-memory limit counts by."""
    return hashlib.sha256(client_of(address).encode("utf-8")).hexdigest()
