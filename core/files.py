"""Small file helpers shared by ingest (uploads) and geo (exports)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (large exports never sit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# A spreadsheet reads a cell that starts with one of these as a formula (OWASP: CSV injection);
# evidence/csv_safe.py and store/aggregate_sql.py prefix such cells with an apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
