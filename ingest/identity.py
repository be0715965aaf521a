"""Keyed hashes of reporter codes and IPs: the only form in which they are stored."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from core import settings

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed on phones
# Longest reporter code kept (ingest.fields.MAX_LENGTHS): longer ones are cut to it, then normalised.
MAX_CODE_CHARS = 64


def keyed_hash(namespace: str, value: str, *, secret: bytes | None = None) -> int:
    """HMAC-SHA256 of ``namespace:value`` with the site secret, as an unsigned 64-bit int."""
    key = secret if secret is not None else settings.site_secret()
    digest = hmac.new(key, f"{namespace}:{value}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def normalise_code(code: str) -> str:
    """Codes are compared without case, spaces or dashes, so a retyped code still matches.

    NFKC first: a code typed with a full-width keyboard (Ｋ７ＱＸ) is the same code.
    """
    return "".join(ch for ch in unicodedata.normalize("NFKC", str(code)).upper() if ch.isalnum())


def code_key(code) -> str:
    """A code as stored and compared: cut to MAX_CODE_CHARS as typed, then normalised.

    The one definition for the check "one code per request" (ingest.submit) and the
    stored hash (ingest.loader): both must cut at the same place, or a request could
    carry codes that differ only after the cut.
    """
    return normalise_code(str(code)[:MAX_CODE_CHARS])
