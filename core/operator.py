"""The operator's token: derived from the site secret, checked in constant time, guessing limited.

The operator of a site (moderation page, backups over HTTP) proves it by a
token that only someone holding the site secret can compute:
``HMAC-SHA256(secret, "dropmap-operator:v1")``, shown by
``python -m store operator-token``. Nothing stores the token; the moderation
log records a short, non-reversible id of it (``token_id``).

Wrong tokens are counted per client network (IPv4 /24, IPv6 /48) and in total
(``GUARD``): after ``FAILURES_PER_ADDRESS`` failures from one network within
``WINDOW_SECONDS``, every attempt from it is refused until the window has passed,
whatever the token; after ``FAILURES_TOTAL`` from everyone, every wrong token is
refused without being counted, but the right one still gets in. 128 bits cannot be guessed at that pace; the
limit keeps a scripted guesser from costing the site anything.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque

from core import settings
from core.network import network_prefix

_PURPOSE = b"dropmap-operator:v1"
TOKEN_CHARS = 32  # hex characters: 128 bits
FAILURES_PER_ADDRESS = 5
FAILURES_TOTAL = 50
WINDOW_SECONDS = 15 * 60


class OperatorRefusedError(PermissionError):
    """The token is wrong, or too many wrong tokens were tried lately (``retry_after`` seconds)."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def operator_token(secret: bytes | None = None) -> str:
    """The operator's token for this site's secret."""
    key = secret if secret is not None else settings.site_secret()
    return hmac.new(key, _PURPOSE, hashlib.sha256).hexdigest()[:TOKEN_CHARS]


def token_id(token: str) -> str:
    """A short name of a token for the moderation log ('op-1a2b3c4d'); it cannot be turned back into the token."""
    return "op-" + hashlib.sha256(("dropmap-operator-id:" + token).encode()).hexdigest()[:8]


def is_operator_token(given: str | None, secret: bytes | None = None) -> bool:
    """Constant-time comparison of ``given`` with the site's token."""
    if not isinstance(given, str):
        return False
    candidate = given.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(candidate, operator_token(secret).encode())


class AttemptGuard:
    """Counts wrong tokens per address and in total over a sliding window."""

    def __init__(self, per_address: int = FAILURES_PER_ADDRESS, total: int = FAILURES_TOTAL,
                 window_seconds: int = WINDOW_SECONDS, clock=time.monotonic, max_addresses: int = 10_000):
        self.per_address, self.total, self.window = per_address, total, window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._by_address: dict[str, deque] = {}
        self._all: deque = deque()
        self._max_addresses = max_addresses

    def clear(self) -> None:
        with self._lock:
            self._by_address.clear()
            self._all.clear()

    def check(self, given: str | None, address: str | None, secret: bytes | None = None) -> str:
        """The token's id when ``given`` is the operator's token, else raise OperatorRefusedError.

        A blocked address (or a blocked site) is refused before the token is even compared.
        """
        key = _network(address)
        with self._lock:
            now = self._clock()
            mine = self._trim(self._by_address.get(key, deque()), now)
            self._trim(self._all, now)
            if len(mine) >= self.per_address:
                raise OperatorRefusedError("too many wrong tokens; try again later",
                                           retry_after=max(1, int(mine[0] + self.window - now) + 1))
            # The site-wide count refuses wrong tokens only: were it to refuse the right one too, ten
            # addresses (or one IPv6 /64) could lock the operator out of moderation during an attack.
            if is_operator_token(given, secret):
                return token_id(given.strip().lower())
            if len(self._all) >= self.total:
                raise OperatorRefusedError("too many wrong tokens; try again later",
                                           retry_after=max(1, int(self._all[0] + self.window - now) + 1))
            if key not in self._by_address and len(self._by_address) >= self._max_addresses:
                self._by_address.pop(next(iter(self._by_address)))
            mine.append(now)
            self._by_address[key] = mine
            self._all.append(now)
        raise OperatorRefusedError("wrong operator token")

    def _trim(self, events: deque, now: float) -> deque:
        while events and events[0] <= now - self.window:
            events.popleft()
        return events


def _network(address: str | None) -> str:
    """What wrong tokens are counted by: the address's network (IPv4 /24, IPv6 /48, as every other
    per-client limit), since one host holds a whole IPv6 /64 of addresses."""
    return network_prefix(address) or address or "(unknown)"


GUARD = AttemptGuard()
