"""Privacy thresholds that hold in every public output (map, downloads, API, feeds).

A published cell needs at least k distinct reporters (DROPMAP_MIN_REPORTERS,
default 5, never below 3). Aggregations count ``COUNT(DISTINCT reporter)``
per output cell and keep a cell only when that count reaches k.
"""

from __future__ import annotations

import pandas as pd

from core import settings

# Columns that must never appear in a public output.
PRIVATE_COLUMNS = frozenset({"lat", "lon", "note", "reporter", "reporter_code", "ip_hash", "ip",
                             "fingerprint", "report_id", "batch_id", "device_model_raw"})


def min_reporters() -> int:
    """k, never below the floor of 3."""
    return settings.min_reporters()


def having_min_reporters(column: str = "reporter") -> tuple[str, list]:
    """A HAVING condition (and its bound value) keeping groups with at least k reporters."""
    return f"count(DISTINCT {column}) >= ?", [min_reporters()]


def suppress(frame: pd.DataFrame, reporters_column: str = "reporters") -> pd.DataFrame:
    """Rows with at least k distinct reporters, and no private column."""
    kept = frame[frame[reporters_column] >= min_reporters()]
    leaked = PRIVATE_COLUMNS.intersection(kept.columns)
    if leaked:
        raise AssertionError(f"private columns in a public output: {sorted(leaked)}")
    return kept.reset_index(drop=True)
