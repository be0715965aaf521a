"""The operator's token: derived from the site secret, checked in constant time, guessing limited.

The operator of a site (moderation page, backups over HTTP) proves it by a
token that only someone holding the site secret can compute:
``HMAC-SHA256(secret, "dropmap-operator:v1")``, shown by
``python -m store operator-token``. Nothing stores the token; the moderation
log records a short, non-reversible id of it (``token_id``).

Wrong tokens are counted per client network (IPv4 /24, IPv6 /48) and in total
(``store.limits.GUARD``; in the shared store when there is one): after
``FAILURES_PER_ADDRESS`` failures from one network within ``WINDOW_SECONDS``, every
attempt from it is refused until the window has passed, whatever the token; after
``FAILURES_TOTAL`` from everyone, every wrong token is refused without being counted,
but the right one still gets in. 128 bits cannot be guessed at that pace; the limit
keeps a scripted guesser from costing the site anything.
"""

from __future__ import annotations

import hashlib
import hmac

from core import settings

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
