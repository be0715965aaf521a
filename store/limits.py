"""The counters behind the site's limits, kept where the store is.

Every limit of the site (reports per code, address and network; codes issued and failed code lookups per
network; API requests, body bytes and hex builds per address; uploads per address; wrong operator tokens)
counts events per key in a sliding window, through ``RateLimiter`` (and ``AttemptGuard`` for the operator's
token). Where the counts live follows the store:

- the embedded file (one site process): in this process's memory, exactly as before. A restart forgets them;
- a shared store (``DROPMAP_STORE=ducklake:postgres:...``, several replicas): in PostgreSQL, in the catalog's
  database (``dropmap_limit_counters``, store.pg), so three replicas behind a load balancer give a client
  the quota of one, and a restarted replica forgets nothing.

In PostgreSQL a key is one row holding its window as buckets (a sixtieth of the window each: a second for a
minute's limit, a minute for an hour's) and their counts. A charge is one statement: ``INSERT ... ON
CONFLICT DO UPDATE ... WHERE <live counts> + n <= limit``, which drops the buckets that left the window, adds
n to the current one, and changes nothing when the limit would be passed. PostgreSQL locks the row for the
statement, so two replicas charging the same key at once are counted one after the other and never both
let through past the limit. A request charged to several keys (code, address, network) charges them in one
transaction, always in the same order: all or nothing, as in memory. A bucket counts until its end has
left the window, so the shared count is the exact count or up to one bucket more: a client at the limit
may wait up to one bucket longer than in memory, never less, and ``Retry-After`` says how long.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import deque

from core import settings
from core.errors import RateLimitedError
from core.network import network_prefix
from core.operator import (
    FAILURES_PER_ADDRESS,
    FAILURES_TOTAL,
    OperatorRefusedError,
    is_operator_token,
    token_id,
)
from core.operator import (
    WINDOW_SECONDS as OPERATOR_WINDOW_SECONDS,
)
from store.pg import connection, is_postgres

WINDOW_SECONDS = 3600
BUCKETS = 60  # buckets per window in the shared counters
SWEEP_SECONDS = 600  # how often a process deletes the shared counters that hold nothing any more

Key = tuple[str, object, int]  # (scope, key, limit); a limit of 0 or less is off

_last_sweep = [0.0]


def uses_shared_counters() -> bool:
    """Whether the limits count in the shared store's PostgreSQL (DROPMAP_STORE=ducklake:postgres:...) rather
    than in this process (the embedded file; a DuckLake whose catalog is not in PostgreSQL, which the site does
    not document, counts in the process too)."""
    return is_postgres(settings.store_location())


class RateLimiter:
    """Events counted per (scope, key) in a sliding window: in memory for the embedded file, in PostgreSQL
    for a shared store when the limiter has a ``name`` (its rows there). A limiter without a name (tests'
    own, with their own clock) always counts in memory.
    """

    def __init__(self, window_seconds: int = WINDOW_SECONDS, max_keys: int = 200_000, clock=time.monotonic, *,
                 name: str | None = None):
        self.name = name
        self.window = window_seconds
        self._memory = _MemoryWindow(window_seconds, max_keys, clock)

    def _shared(self) -> _SharedWindow | None:
        return _SharedWindow(self.name, self.window) if self.name and uses_shared_counters() else None

    def reserve(self, keys: list[Key], count: int) -> None:
        """Count ``count`` events against every (scope, key, limit), or raise RateLimitedError.

        All or nothing: when one key is over its limit, none is charged.
        """
        shared = self._shared()
        (shared or self._memory).reserve(keys, count)

    def check(self, keys: list[Key], count: int) -> None:
        """Raise RateLimitedError when ``count`` more would pass a limit; charges nothing."""
        shared = self._shared()
        (shared or self._memory).check(keys, count)

    def clear(self) -> None:
        """Forget every count (tests): this process's, and the shared store's of this limiter."""
        self._memory.clear()
        shared = self._shared()
        if shared is not None:
            shared.clear()


class _MemoryWindow:
    """The counts of one limiter in this process: per key, its events (time, count) in the window."""

    def __init__(self, window_seconds: int, max_keys: int, clock) -> None:
        self._window = window_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._events: dict[tuple[str, object], deque] = {}
        self._totals: dict[tuple[str, object], int] = {}

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
            self._totals.clear()

    def reserve(self, keys: list[Key], count: int) -> None:
        now = self._clock()
        with self._lock:
            self._check(keys, count, now)
            for scope, key, limit in keys:
                if limit > 0:
                    self._charge((scope, key), count, now)

    def check(self, keys: list[Key], count: int) -> None:
        with self._lock:
            self._check(keys, count, self._clock())

    def _check(self, keys: list[Key], count: int, now: float) -> None:
        for scope, key, limit in keys:
            if limit <= 0:
                continue
            used = self._used((scope, key), now)
            if used + count > limit:
                raise RateLimitedError(scope, limit, self._retry_after((scope, key), limit, count, now))

    def _used(self, name, now: float) -> int:
        events = self._events.get(name)
        if not events:
            return 0
        while events and events[0][0] <= now - self._window:
            _, n = events.popleft()
            self._totals[name] -= n
        if not events:
            del self._events[name], self._totals[name]
            return 0
        return self._totals[name]

    def _retry_after(self, name, limit: int, count: int, now: float) -> int:
        """Seconds until enough old events leave the window for ``count`` more."""
        if count > limit:
            return self._window
        excess = self._totals.get(name, 0) + count - limit
        for t, n in self._events.get(name, ()):
            excess -= n
            if excess <= 0:
                return max(1, math.ceil(t + self._window - now))
        return self._window

    def _charge(self, name, count: int, now: float) -> None:
        if name not in self._events and len(self._events) >= self._max_keys:
            # Forget the key idle longest; memory stays bounded under a flood of new keys.
            oldest = min(self._events, key=lambda k: self._events[k][-1][0])
            del self._events[oldest], self._totals[oldest]
        self._events.setdefault(name, deque()).append((now, count))
        self._totals[name] = self._totals.get(name, 0) + count


# One statement per key and charge (module docstring). ``excluded`` carries the current bucket and the count.
_CHARGE = """
INSERT INTO dropmap_limit_counters AS r (limiter, scope, key, buckets, counts, expires_at)
VALUES (%(limiter)s, %(scope)s, %(key)s, ARRAY[floor(extract(epoch FROM now()) / %(width)s)::bigint],
        ARRAY[%(count)s::integer], now() + make_interval(secs => %(keep)s))
ON CONFLICT (limiter, scope, key) DO UPDATE SET
    buckets = ARRAY(SELECT b FROM unnest(r.buckets) AS b
                    WHERE b >= excluded.buckets[1] - %(n)s AND b < excluded.buckets[1] ORDER BY b)
              || excluded.buckets[1],
    counts = ARRAY(SELECT c FROM unnest(r.buckets, r.counts) AS u(b, c)
                   WHERE b >= excluded.buckets[1] - %(n)s AND b < excluded.buckets[1] ORDER BY b)
             || (excluded.counts[1] + coalesce((SELECT sum(c) FROM unnest(r.buckets, r.counts) AS u(b, c)
                                                WHERE b = excluded.buckets[1]), 0))::integer,
    expires_at = excluded.expires_at
WHERE (SELECT coalesce(sum(c), 0) FROM unnest(r.buckets, r.counts) AS u(b, c)
       WHERE b >= excluded.buckets[1] - %(n)s) + excluded.counts[1] <= %(limit)s
RETURNING 1
"""
_READ = ("SELECT buckets, counts, extract(epoch FROM now())::float8 FROM dropmap_limit_counters"
         " WHERE limiter = %s AND scope = %s AND key = %s")


class _SharedWindow:
    """The counts of limiter ``name`` in the shared store's PostgreSQL (module docstring)."""

    def __init__(self, name: str, window_seconds: int) -> None:
        self.name = name
        self.window = window_seconds
        self.width = window_seconds / BUCKETS

    def reserve(self, keys: list[Key], count: int) -> None:
        active = [(scope, str(key), limit) for scope, key, limit in keys if limit > 0]
        if not active or count <= 0:
            return
        for scope, _, limit in active:
            if count > limit:
                raise RateLimitedError(scope, limit, self.window)
        # One order for every charge: two requests charging the same keys never wait on each other in a cycle.
        with connection() as con, con.transaction():  # RateLimitedError raised inside rolls every key back
            for scope, key, limit in sorted(active, key=lambda k: (k[0], k[1])):
                charged = con.execute(_CHARGE, {"limiter": self.name, "scope": scope, "key": key, "count": count,
                                                "width": self.width, "n": BUCKETS, "limit": limit,
                                                "keep": self.window + self.width}).fetchone()
                if charged is None:
                    raise RateLimitedError(scope, limit, self._retry_after(con, scope, key, limit, count))
        _sweep()

    def check(self, keys: list[Key], count: int) -> None:
        active = [(scope, str(key), limit) for scope, key, limit in keys if limit > 0]
        if not active:
            return
        with connection() as con:
            for scope, key, limit in active:
                buckets, now = self._live(con, scope, key)
                if sum(c for _, c in buckets) + count > limit:
                    raise RateLimitedError(scope, limit, self._wait(buckets, now, limit, count))

    def clear(self) -> None:
        with connection() as con:
            con.execute("DELETE FROM dropmap_limit_counters WHERE limiter = %s", [self.name])

    def _live(self, con, scope: str, key: str) -> tuple[list[tuple[int, int]], float]:
        """The key's buckets still in the window, oldest first, and PostgreSQL's clock (epoch seconds)."""
        row = con.execute(_READ, [self.name, scope, key]).fetchone()
        if row is None:
            return [], time.time()
        buckets, counts, now = row
        current = math.floor(now / self.width)
        return sorted((b, c) for b, c in zip(buckets, counts, strict=True) if b >= current - BUCKETS), now

    def _retry_after(self, con, scope: str, key: str, limit: int, count: int) -> int:
        buckets, now = self._live(con, scope, key)
        return self._wait(buckets, now, limit, count)

    def _wait(self, buckets: list[tuple[int, int]], now: float, limit: int, count: int) -> int:
        """Seconds until enough buckets leave the window for ``count`` more (a bucket leaves once its end has)."""
        if count > limit:
            return self.window
        excess = sum(c for _, c in buckets) + count - limit
        for bucket, n in buckets:
            excess -= n
            if excess <= 0:
                return max(1, math.ceil((bucket + 1) * self.width + self.window - now))
        return self.window


def _sweep() -> None:
    """Now and then, delete the shared counters whose window holds nothing any more (any replica may)."""
    now = time.monotonic()
    if now - _last_sweep[0] < SWEEP_SECONDS:
        return
    _last_sweep[0] = now
    with connection() as con:
        con.execute("DELETE FROM dropmap_limit_counters WHERE expires_at < now()")


# --- the operator's token ------------------------------------------------------------------------------------

class AttemptGuard:
    """Counts wrong operator tokens per network and in total over a sliding window (core.operator says why):
    in memory for the embedded file, in the shared store's counters for a shared store."""

    def __init__(self, per_address: int = FAILURES_PER_ADDRESS, total: int = FAILURES_TOTAL,
                 window_seconds: int = OPERATOR_WINDOW_SECONDS, clock=time.monotonic, max_addresses: int = 10_000,
                 *, name: str | None = None):
        self.per_address, self.total, self.window = per_address, total, window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._by_address: dict[str, deque] = {}
        self._all: deque = deque()
        self._max_addresses = max_addresses
        self._counts = RateLimiter(window_seconds, name=name) if name else None

    def clear(self) -> None:
        with self._lock:
            self._by_address.clear()
            self._all.clear()
        if self._counts is not None:
            self._counts.clear()

    def check(self, given: str | None, address: str | None, secret: bytes | None = None) -> str:
        """The token's id when ``given`` is the operator's token, else raise OperatorRefusedError.

        A blocked address (or a blocked site) is refused before the token is even compared.
        """
        if self._counts is not None and uses_shared_counters():
            return self._check_shared(given, _hashed(_network(address)), secret)
        key = _network(address)
        with self._lock:
            now = self._clock()
            mine = self._trim(self._by_address.get(key, deque()), now)
            self._trim(self._all, now)
            if len(mine) >= self.per_address:
                raise _too_many(max(1, int(mine[0] + self.window - now) + 1))
            # The site-wide count refuses wrong tokens only: were it to refuse the right one too, ten
            # addresses (or one IPv6 /64) could lock the operator out of moderation during an attack.
            if is_operator_token(given, secret):
                return token_id(given.strip().lower())
            if len(self._all) >= self.total:
                raise _too_many(max(1, int(self._all[0] + self.window - now) + 1))
            if key not in self._by_address and len(self._by_address) >= self._max_addresses:
                self._by_address.pop(next(iter(self._by_address)))
            mine.append(now)
            self._by_address[key] = mine
            self._all.append(now)
        raise OperatorRefusedError("wrong operator token")

    def _check_shared(self, given: str | None, network: str, secret: bytes | None) -> str:
        """The same rules on the shared counters: the network's count first, the total for wrong tokens only."""
        mine, everyone = ("network", network, self.per_address), ("all", "all", self.total)
        try:
            self._counts.check([mine], 1)
            if is_operator_token(given, secret):
                return token_id(given.strip().lower())
            self._counts.check([everyone], 1)
            self._counts.reserve([mine, everyone], 1)
        except RateLimitedError as e:
            raise _too_many(e.retry_after) from None
        raise OperatorRefusedError("wrong operator token")

    def _trim(self, events: deque, now: float) -> deque:
        while events and events[0] <= now - self.window:
            events.popleft()
        return events


def _hashed(network: str) -> str:
    """A network as the shared counters keep it: a keyed hash (the site secret), as every other stored address."""
    digest = hmac.new(settings.site_secret(), f"operator-network:{network}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def _too_many(retry_after: int) -> OperatorRefusedError:
    return OperatorRefusedError("too many wrong tokens; try again later", retry_after=retry_after)


def _network(address: str | None) -> str:
    """What wrong tokens are counted by: the address's network (IPv4 /24, IPv6 /48, as every other
    per-client limit), since one host holds a whole IPv6 /64 of addresses."""
    return network_prefix(address) or address or "(unknown)"


GUARD = AttemptGuard(name="operator-tokens")
