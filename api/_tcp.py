"""TCP_NODELAY on the site's connections, so keep-alive API clients are not held back 40 ms.

asyncio turns Nagle's algorithm off only for sockets whose ``proto`` is
IPPROTO_TCP, but Streamlit's server binds its listening socket with
``socket.socket(family)`` (proto 0), and accepted sockets inherit that. Each
response on a kept-alive connection then waits for the client's delayed ACK:
every request after the first took ~44 ms even for /_stcore/health (measured
with curl and httpx; a fresh connection took 2 ms). Setting TCP_NODELAY on any
TCP stream socket, as asyncio means to, removes the stall.

With uvloop installed (requirements.txt; uvicorn then uses it) the event loop
sets TCP_NODELAY itself and this patch is not consulted; it stays for the plain
asyncio loop (measured with uvloop: a kept-alive GET /api/v1/openapi.json
answers in 0.7 ms).
"""

from __future__ import annotations

import asyncio.base_events
import socket


def _set_nodelay(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def enable() -> None:
    """Make asyncio set TCP_NODELAY on every TCP stream socket it wraps (idempotent)."""
    asyncio.base_events._set_nodelay = _set_nodelay
