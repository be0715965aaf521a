"""Independent sources: what every "k people" rule counts (docs/SECURITY.md, "Independent sources").

A report's ``source_id`` is decided when it is stored:

- its reporter (the keyed hash of its code) when the code has history: issued,
  or first stored, at least DROPMAP_CODE_MATURE_HOURS ago;
- else the keyed hash of the client's network prefix (IPv4 /24, IPv6 /48),
  ``prefix_hash``: forty codes minted minutes ago from one /24, and code-less
  reports from it, are ONE source;
- its reporter when no client address is known (the operator's command line,
  the demo, reports stored before sources existed): those rows count as before.

The outage detector also needs distinct prefixes (``coalesce(prefix_hash,
reporter)``), so aged codes used from one network still raise no alarm.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core import settings
from core.network import network_prefix
from ingest.identity import keyed_hash
from store.codes_sql import codes_issued_before


def prefix_hash(ip: str | None, *, secret: bytes | None = None) -> int | None:
    """Keyed hash of the client's network prefix; None when no address is known."""
    prefix = network_prefix(ip)
    return keyed_hash("prefix", prefix, secret=secret) if prefix else None


def mature_hours() -> int:
    return max(0, settings.get_int("DROPMAP_CODE_MATURE_HOURS"))


def mature_reporters(cur, reporters: list[int], now: datetime) -> set[int]:
    """The reporters (code hashes) whose code was issued, or first stored, long enough before ``now``."""
    distinct = list(dict.fromkeys(int(r) for r in reporters))
    return codes_issued_before(cur, distinct, now - timedelta(hours=mature_hours()))


def source_ids(reporters: list[int], prefix: int | None, mature: set[int]) -> list[int]:
    """Each row's source: its reporter when no prefix is known or the code is mature, else the prefix."""
    if prefix is None:
        return [int(r) for r in reporters]
    return [int(r) if int(r) in mature else int(prefix) for r in reporters]
