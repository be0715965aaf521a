"""What a client's address stands for, the one definition every per-client limit uses.

- ``network_prefix``: the network the address belongs to, IPv4 /24 or IPv6 /48 (an office, a
  campus, a small hosting block, one carrier NAT pool): independent sources, outage alarms,
  codes issued, report quotas and wrong operator tokens are counted per network.
- ``host_of``: what one machine holds, the IPv4 address or its IPv6 /64 (a host is handed a
  whole /64, so counting IPv6 addresses one by one counts nothing): the per-client budgets of
  the API and of uploads.
"""

from __future__ import annotations

import ipaddress


def _address(ip: str | None):
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(str(ip).strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _network(ip: str | None, v4_bits: int, v6_bits: int) -> str | None:
    address = _address(ip)
    if address is None:
        return None
    bits = v4_bits if address.version == 4 else v6_bits
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


def network_prefix(ip: str | None) -> str | None:
    """The network an address belongs to, as text: IPv4 /24, IPv6 /48 (an IPv4-mapped address as IPv4)."""
    return _network(ip, 24, 48)


def host_of(ip: str | None) -> str | None:
    """The machine an address stands for, as text: the IPv4 address (/32), or the IPv6 /64."""
    return _network(ip, 32, 64)
