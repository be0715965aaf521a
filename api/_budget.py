"""Per-address budgets charged before a request costs the site anything (issue 11, item 4).

The hourly report quota (ingest.abuse) can only be charged once a body is
parsed and its reports counted. A client that sends huge or broken bodies as
fast as it can would make the site read and parse every one of them first, so
a cheaper budget is charged before that: requests per minute and body bytes
per hour per client machine (an IPv4 address, an IPv6 /64). Every request pays, whatever becomes of it (a
body refused for carrying two codes, for bad JSON or for its size pays too).
The same kind of budget limits the aggregates one address may have built by
the hex API (answers from the cache are free).

With a shared store the counts are the replicas' together, in PostgreSQL (store.limits): a charge is then
a round trip to the database, which ``spend`` makes from a worker thread, never on the event loop.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from core import settings
from core.network import host_of
from ingest.abuse import RateLimitedError, RateLimiter
from ingest.identity import keyed_hash
from store.limits import uses_shared_counters

# Counted in this process, or in the shared store when there is one (store.limits).
REQUESTS = RateLimiter(window_seconds=60, name="api-requests")
BYTES = RateLimiter(window_seconds=3600, name="api-bytes")
HEAVY = RateLimiter(window_seconds=60, name="hex-builds")


class BudgetExceeded(Exception):
    """A client address has spent a budget; ``retry_after`` in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _key(ip: str | None) -> int | None:
    """The client's machine (core.network.host_of: an IPv6 host holds a whole /64); a peer that is not
    an IP address (a test client, a socket) by its name."""
    host = host_of(ip) or ip
    return keyed_hash("budget", host) if host else None


def _charge(limiter: RateLimiter, scope: str, ip: str | None, count: int, setting: str, message: str) -> None:
    key, limit = _key(ip), settings.get_int(setting)
    if key is None or limit <= 0 or count <= 0:
        return
    try:
        limiter.reserve([(scope, key, limit)], count)
    except RateLimitedError as e:
        raise BudgetExceeded(message.format(limit=limit, retry=e.retry_after), e.retry_after) from None


async def spend(charge, *args) -> None:
    """Run ``charge(*args)`` for a request handler: at once when the counts are in this process's memory (a
    few microseconds), in a worker thread when they are in the shared store (a round trip to PostgreSQL)."""
    if uses_shared_counters():
        await run_in_threadpool(charge, *args)
    else:
        charge(*args)


def charge_request(ip: str | None) -> None:
    """One request of ``ip``, before anything of its body is read."""
    _charge(REQUESTS, "requests", ip, 1, "DROPMAP_API_REQUESTS_PER_MINUTE",
            "too many requests: at most {limit} per minute per client address; try again in {retry} s")


def charge_bytes(ip: str | None, size: int) -> None:
    """``size`` body bytes of ``ip``, before the body is parsed."""
    _charge(BYTES, "bytes", ip, size, "DROPMAP_API_BYTES_PER_HOUR",
            "too much data: at most {limit} body bytes per hour per client address; try again in {retry} s")


def charge_heavy(ip: str | None) -> None:
    """One aggregate built for ``ip`` (GET /api/v1/hexes without a cached answer)."""
    _charge(HEAVY, "aggregates", ip, 1, "DROPMAP_HEAVY_PER_MINUTE",
            "too many new aggregates: at most {limit} per minute per client address (pages of one aggregate "
            "are free); try again in {retry} s, or download the snapshot files (/app/static/opendata/index.json)")


def clear() -> None:
    """Forget every charge (tests)."""
    for limiter in (REQUESTS, BYTES, HEAVY):
        limiter.clear()
