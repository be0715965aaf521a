"""Small file helpers shared by ingest (uploads), geo (exports) and outages (the static status files)."""

from __future__ import annotations

import hashlib
import os
import tempfile
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


def replace_if_changed(path: Path, data: bytes, *, mode: int = 0o644) -> bool:
    """Put ``data`` at ``path`` unless the file already holds exactly it; True when written.

    Written to a temporary file in the same folder, flushed to disk, then renamed over ``path``
    (``os.replace``), so a reader (a static server, a CDN fetching from it) sees the old file or the
    new one, never half of one, and two writers never share a temporary name. ``mkstemp`` makes files
    readable by their owner only; ``mode`` lets a web server running as another user read them.
    """
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(partial, mode)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return True
