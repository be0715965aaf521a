"""Reporter codes issued by the site: verifiable without a lookup, issued under a per-prefix limit.

A code is 16 letters and digits in groups of four (``K7QX-M2PA-9RTB-C4DE``):
ten random characters (50 bits) and six characters (30 bits) of an HMAC of
them with the site secret. The server checks the MAC without reading the
store; a self-chosen string fails it. Codes stored before the site issued
them (12 characters, the demo's personas such as ``DEMO-KTKT-2021``) are
accepted when the store already holds reports under them: nobody is locked
out of their own evidence. See docs/SECURITY.md.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime

from core import settings
from core.errors import InputError
from ingest.abuse import RateLimitedError, RateLimiter
from ingest.identity import CODE_ALPHABET, code_key, keyed_hash
from ingest.sources import prefix_hash
from store.codes_sql import first_stored_without_address, known_codes, record_code
from store.db import cursor

RANDOM_CHARS = 10
MAC_CHARS = 6
GET_ONE = "get one from POST /api/v1/codes (or the site's report form)"

# Counted in this process, or in the shared store when there is one (store.limits).
ISSUE_LIMITER = RateLimiter(name="codes")  # codes issued per network prefix in the last hour
LOOKUP_LIMITER = RateLimiter(name="code-lookups")  # tries of codes not issued here that found nothing, per prefix
GUESS_SCOPE = "tries of codes this site did not issue:network prefix"  # RateLimitedError.scope of that limit


def _mac(body: str, secret: bytes | None = None) -> str:
    key = secret if secret is not None else settings.site_secret()
    digest = hmac.new(key, f"code-mac:{body}".encode(), "sha256").digest()
    value = int.from_bytes(digest[:8], "big")
    return "".join(CODE_ALPHABET[(value >> (5 * i)) & 31] for i in range(MAC_CHARS))


def mint_code(*, secret: bytes | None = None, seed: str | None = None) -> str:
    """A fresh issued code like 'K7QX-M2PA-9RTB-C4DE' (not recorded: see ``issue_code``).

    ``seed`` (benchmarks only) derives the random part from a text, so a client can remake its code.
    """
    if seed is None:
        body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(RANDOM_CHARS))
    else:
        value = int.from_bytes(hmac.digest(b"seed", seed.encode(), "sha256")[:8], "big")
        body = "".join(CODE_ALPHABET[(value >> (5 * i)) & 31] for i in range(RANDOM_CHARS))
    chars = body + _mac(body, secret)
    return "-".join(chars[i:i + 4] for i in range(0, len(chars), 4))


def is_issued(code: str | None, *, secret: bytes | None = None) -> bool:
    """Whether ``code`` carries the site's MAC (case, spaces and dashes do not matter)."""
    key = code_key(code or "")
    if len(key) != RANDOM_CHARS + MAC_CHARS or any(ch not in CODE_ALPHABET for ch in key):
        return False
    return hmac.compare_digest(key[RANDOM_CHARS:], _mac(key[:RANDOM_CHARS], secret))


def issue_code(con, ip: str | None, *, now: datetime | None = None, limiter: RateLimiter = ISSUE_LIMITER) -> str:
    """Issue and record a code for a client at ``ip``; RateLimitedError past DROPMAP_CODES_PER_PREFIX an hour."""
    prefix = prefix_hash(ip)
    # Clients whose address is unknown (a session the server cannot place) share one allowance.
    bucket = prefix if prefix is not None else keyed_hash("prefix", "(unknown)")
    limiter.reserve([("new codes:network prefix", bucket, settings.get_int("DROPMAP_CODES_PER_PREFIX"))], 1)
    code = mint_code()
    with cursor(con) as cur:
        record_code(cur, keyed_hash("code", code_key(code)), now or datetime.now(UTC), prefix)
    return code


def refuse_unknown(cur, code: str, ip: str | None = None) -> None:
    """Accept an issued code or a code the store already holds (recording the latter's age once);
    raise InputError naming reporter_code for a self-chosen one.

    Whether an old-form code is accepted tells whether the store holds it, so trying one counts as a
    My reports lookup: refused (RateLimitedError) once the client's network has made
    DROPMAP_LOOKUPS_PER_PREFIX misses, and a miss counts as one. Otherwise posting reports would
    guess codes that My reports refuses to guess.
    """
    if is_issued(code):
        return
    check_lookup(ip)
    key = code_key(code)
    hashed = keyed_hash("code", key)
    if known_codes(cur, [hashed]):
        return
    first = first_stored_without_address(cur, hashed)
    if first is None:
        charge_miss(ip)
        raise InputError("reporter_code", code, f"not a code this site issued; {GET_ONE}")
    record_code(cur, hashed, first, None, kind="legacy")


def lookup_keys(ip: str | None) -> list[tuple[str, int, int]]:
    """The counter of the client's network; clients without a known address share one."""
    prefix = prefix_hash(ip)
    bucket = prefix if prefix is not None else keyed_hash("prefix", "(unknown)")
    limit = settings.get_int("DROPMAP_LOOKUPS_PER_PREFIX")
    return [(GUESS_SCOPE, bucket, limit)]


def check_lookup(ip: str | None, *, limiter: RateLimiter = LOOKUP_LIMITER) -> None:
    """Raise RateLimitedError when the client's network has tried too many codes that found nothing."""
    limiter.check(lookup_keys(ip), 1)


def charge_miss(ip: str | None, *, limiter: RateLimiter = LOOKUP_LIMITER) -> None:
    """Count a lookup that found nothing (a guess, or a mistyped code)."""
    try:
        limiter.reserve(lookup_keys(ip), 1)
    except RateLimitedError:
        pass  # already at the limit: the next lookup is refused by check_lookup
