"""What a client's address stands for, the one definition every per-client limit uses.

- ``network_prefix``: the network the address belongs to, IPv4 /24 or IPv6 /48 (an office, a
  campus, a small hosting block, one carrier NAT pool): independent sources, outage alarms,
  codes issued, report quotas and wrong operator tokens are counted per network.
- ``client_address`` / ``visitor_address``: who the client is, by the connection's peer or, behind
  trusted proxies (DROPMAP_TRUSTED_PROXIES), by X-Forwarded-For; the API and the site's pages alike.
- ``host_of``: what one machine holds, the IPv4 address or its IPv6 /64 (a host is handed a
  whole /64, so counting IPv6 addresses one by one counts nothing): the per-client budgets of
  the API and of uploads.
"""

from __future__ import annotations

import ipaddress

from core import settings


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


def clean_ip(value) -> str | None:
    """A client address as text when it is one (the site's session may know none), else None."""
    try:
        return str(ipaddress.ip_address(value.strip())) if isinstance(value, str) else None
    except ValueError:
        return None


def client_address(peer, forwarded) -> str | None:
    """The client's address: the connection's peer, or X-Forwarded-For as written by trusted proxies.

    With DROPMAP_TRUSTED_PROXIES=N (default 0) the N-th address from the right
    of X-Forwarded-For is the client (each trusted proxy appends the address it
    saw); with 0 the header is ignored, since any client can send it.
    """
    # The peer comes from the socket layer: kept as given (a test client names itself).
    peer = peer if isinstance(peer, str) and peer else None
    hops = settings.get_int("DROPMAP_TRUSTED_PROXIES")
    if hops <= 0 or not isinstance(forwarded, str) or not forwarded.strip():
        return peer
    chain = [part.strip() for part in forwarded.split(",") if part.strip()]
    candidate = chain[-hops] if len(chain) >= hops else chain[0]
    return clean_ip(candidate) or peer


LOOPBACK = "127.0.0.1"


def visitor_address(ip_address, headers) -> str | None:
    """A site visitor's address (the report, upload, My reports and moderation pages), by the API's rule.

    Streamlit's ``st.context.ip_address`` is None for a loopback peer, which is exactly what a
    reverse proxy on the same machine is. None means "no client address" (the operator's command
    line, the demo), whose rows count as their own reporter, escape the upload limit and make a
    stored code usable in the API; a live session (it always has request headers) is therefore
    placed at the loopback address, as the API places the same connection.
    """
    headers = headers or {}
    peer = ip_address or (LOOPBACK if len(headers) else None)
    return client_address(peer, headers.get("X-Forwarded-For"))
