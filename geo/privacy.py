"""Privacy thresholds that hold in every public output (map, downloads, API, feeds).

A published cell needs at least k distinct reporters (DROPMAP_MIN_REPORTERS,
default 5, never below 3). Aggregations count ``COUNT(DISTINCT source_id)``
per output cell and keep a cell only when that count reaches k.
"""

from __future__ import annotations

from core import settings

# Columns that must never appear in a public output.
PRIVATE_COLUMNS = frozenset({"lat", "lon", "note", "reporter", "reporter_code", "ip_hash", "ip",
                             "prefix_hash", "source_id", "fingerprint", "report_id", "batch_id", "device_model_raw"})


def min_reporters() -> int:
    """k, never below the floor of 3."""
    return settings.min_reporters()

