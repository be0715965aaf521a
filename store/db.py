"""The only place that calls ``duckdb.connect``.

DuckDB lets one process open a file read-write, and then no other process may
open it at all. The site (UI, HTTP API and outage detector) therefore shares
one long-lived connection per process (``shared_connection``) and hands each
thread a ``cursor()``; command-line tools open their own and get a clear
``DatabaseLockedError`` while the site holds the file.
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path

import duckdb

from core import settings
from core.errors import DatabaseLockedError, StoreError
from store.migrations import apply_migrations

_shared: dict[str, duckdb.DuckDBPyConnection] = {}
_shared_lock = threading.Lock()


def connect(path: str | Path | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the database (``DROPMAP_DB`` by default) with UTC session time.

    A read-write connection brings the schema up to date first.
    """
    path = Path(path) if path is not None else settings.db_path()
    if read_only and not path.exists():
        raise StoreError(f"database {path} does not exist; build it with `python -m ingest demo`")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not read_only:
        owner_only(path)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as e:
        raise _translate_open_error(path, e) from e
    # Set after connecting: the ICU extension that implements time zones is
    # loaded by then (passing it in connect's config fails offline).
    con.execute("SET GLOBAL TimeZone = 'UTC'")  # GLOBAL: cursor() connections inherit it
    con.execute("SET enable_progress_bar = false")  # it would draw over a CLI's stderr
    memory = settings.get("DROPMAP_DUCKDB_MEMORY").strip()
    if memory:
        try:
            con.execute("SET GLOBAL memory_limit = ?", [memory])
        except duckdb.Error as e:
            con.close()
            raise StoreError(f"DROPMAP_DUCKDB_MEMORY={memory!r} is not a memory size DuckDB understands "
                             f"({str(e).splitlines()[0]}); use e.g. 4GB or 512MB, or leave it empty") from e
    if not read_only:
        try:
            apply_migrations(con)
        except StoreError as e:
            con.close()
            raise StoreError(f"cannot bring database {path} up to date: {e}") from e
    return con


def owner_only(path: Path) -> None:
    """Keep the database and its write-ahead log readable by their owner only: they hold exact places,
    notes and address hashes. The process's umask gains 077 (DuckDB creates the log anew after each
    checkpoint, with the umask's permissions), and files made under a looser umask are tightened."""
    os.umask(os.umask(0o077) | 0o077)
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            if file.exists() and file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except OSError:  # another user's file: theirs to tighten
            pass


def _translate_open_error(path: Path, error: Exception) -> StoreError:
    text = str(error)
    if "lock" in text.lower():
        pid = re.search(r"PID (\d+)", text)
        holder = f"process {pid.group(1)}" if pid else "another process"
        return DatabaseLockedError(
            f"database {path} is held by {holder} (usually the running site). "
            "Stop the site first, or send the data through the site's HTTP API "
            "(POST /api/v1/reports), or use another --db path."
        )
    return StoreError(f"cannot open database {path}: {text}")


@contextmanager
def transaction(cur: duckdb.DuckDBPyConnection):
    """One transaction on ``cur``: committed when the block ends, rolled back when it raises."""
    cur.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")


@contextmanager
def cursor(con: duckdb.DuckDBPyConnection | None = None):
    """A cursor of ``con`` (None: the site's shared connection), closed when the block ends: ``with
    cursor(con) as cur:``. The one way code outside ``store/`` opens a cursor (tests/test_layers.py);
    a public read that needs a time limit goes through ``store.read.run_read``, which opens its cursor here."""
    cur = (con if con is not None else shared_connection(settings.db_path())).cursor()
    try:
        yield cur
    finally:
        cur.close()


def shared_connection(path: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """The process-wide read-write connection; callers use ``.cursor()`` per thread."""
    key = _shared_key(path)
    with _shared_lock:
        con = _shared.get(key)
        if con is None:
            con = connect(key)
            _shared[key] = con
        return con


def open_shared_connection(path: str | Path | None = None) -> duckdb.DuckDBPyConnection | None:
    """The process-wide connection if it is open already, else None (never opens: no waiting on the file)."""
    with _shared_lock:
        return _shared.get(_shared_key(path))


def _shared_key(path: str | Path | None) -> str:
    return str(Path(path) if path is not None else settings.db_path())


def close_shared() -> None:
    """Close every shared connection (tests, shutdown)."""
    with _shared_lock:
        for con in _shared.values():
            con.close()
        _shared.clear()
