"""The only place that calls ``duckdb.connect``.

A store is one of two kinds (``settings.store_location``):

- the embedded file (``DROPMAP_DB``, the default). DuckDB lets one process open a file
  read-write, and then no other process may open it at all. The site (UI, HTTP API and
  outage detector) therefore shares one long-lived connection per process
  (``shared_connection``) and hands each thread a ``cursor()``; command-line tools open
  their own and get a clear ``DatabaseLockedError`` while the site holds the file;
- a shared store (``DROPMAP_STORE=ducklake:postgres:...``): DuckLake, its catalog in
  PostgreSQL and its data files in a folder (``DROPMAP_LAKE_DATA``), which any number of
  processes open at once. The same SQL runs on both; the extensions come from their PyPI
  packages, pinned with DuckDB, and are never downloaded.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path

import duckdb

from core import settings
from core.errors import DatabaseLockedError, StoreError
from store.migrations import apply_migrations

SHARED_PREFIX = "ducklake:"
SHARED_KINDS = ("ducklake:postgres:",)  # the catalogs a shared store may have: several replicas need a server
log = logging.getLogger("dropmap.store")

_shared: dict[str, duckdb.DuckDBPyConnection] = {}
_shared_lock = threading.Lock()


def is_shared(location: str | Path) -> bool:
    """Whether ``location`` names a shared store (DuckLake) rather than a database file."""
    return str(location).startswith(SHARED_PREFIX)


def connect(path: str | Path | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the store (``settings.store_location()`` by default: a file, or a shared store) with UTC
    session time.

    A read-write connection brings the schema up to date first.
    """
    location = str(path) if path is not None else settings.store_location()
    if is_shared(location):
        return _connect_shared(location, read_only=read_only)
    path = Path(location)
    if read_only and not path.exists():
        raise StoreError(f"database {path} does not exist; build it with `python -m ingest demo`")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not read_only:
        owner_only(path)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as e:
        raise _translate_open_error(path, e) from e
    _session(con)
    if not read_only:
        try:
            apply_migrations(con)
        except StoreError as e:
            con.close()
            raise StoreError(f"cannot bring database {path} up to date: {e}") from e
    return con


def _session(con: duckdb.DuckDBPyConnection) -> None:
    """Settings every connection gets: UTC, no progress bar, DuckDB's memory limit."""
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


def _connect_shared(location: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the DuckLake store ``location`` as the connection's default database, so cursors use it too.

    DuckDB keeps one instance per location and process, so every connection to it here has the same
    configuration; ``read_only`` only skips the schema update. A catalog seen for the first time is
    created with its data files in DROPMAP_LAKE_DATA.
    """
    check_shared_location(location)
    config = {"extension_directory": str(_extension_directory()), "autoinstall_known_extensions": False}
    try:
        try:
            con = duckdb.connect(location, config=config)
        except duckdb.InvalidInputException as e:
            if "data_path is not set" not in str(e) or read_only:
                raise
            from store import pg

            with pg.creation_lock(location):  # replicas starting together on a new store: one creates it
                try:
                    _create_shared(location, config)
                except duckdb.Error as again:
                    if "already" not in str(again):  # another process created it while this one waited
                        raise
            con = duckdb.connect(location, config=config)
    except duckdb.Error as e:
        # The details (host, database, user) go to the operator's log, never into a message a page may show.
        log.error("cannot open the shared store %s: %s", location, str(e).splitlines()[0])
        raise StoreError("cannot open the shared store named by DROPMAP_STORE (the site's log says why): "
                         "check the setting and that PostgreSQL is running") from e
    _session(con)
    if not read_only:
        from store import pg

        try:
            with pg.creation_lock(location):  # one process at a time brings the schema up to date
                apply_migrations(con, shared=True)
        except StoreError as e:
            con.close()
            raise StoreError(f"cannot bring the shared store up to date: {e}") from e
    return con


def check_shared_location(location: str) -> None:
    """Refuse a shared store whose catalog is not in PostgreSQL, and a password in DROPMAP_STORE: the location
    names the store's database in DuckDB, so a password there would show wherever its name does."""
    if not location.startswith(SHARED_KINDS):
        raise StoreError("DROPMAP_STORE must start with ducklake:postgres: (DuckLake with its catalog in "
                         "PostgreSQL, which several replicas can share); leave it empty for the embedded file")
    if re.search(r"password\s*=", location, re.IGNORECASE) or re.search(r"://[^/@]*:[^/@]*@", location):
        raise StoreError("DROPMAP_STORE must not carry a password: give it to PostgreSQL's client in the "
                         "environment (PGPASSWORD) or in ~/.pgpass, or use a Unix socket with peer authentication")


def _create_shared(location: str, config: dict) -> None:
    """Create a new DuckLake catalog for ``location``, its data files in DROPMAP_LAKE_DATA."""
    data = settings.get("DROPMAP_LAKE_DATA")
    if "://" not in data:
        Path(data).mkdir(parents=True, exist_ok=True)
        data = str(Path(data).resolve()) + "/"
    con = duckdb.connect(config=config)
    try:
        # ATTACH takes no bound parameters; both values are the operator's own settings.
        con.execute(f"ATTACH {_literal(location)} AS new_store (DATA_PATH {_literal(data)})")
        con.execute("DETACH new_store")
    finally:
        con.close()
    log.warning("created a new shared store; its data files are in %s", data)


def _extension_directory() -> Path:
    """A DuckDB extension directory holding the extensions of the shared store, linked from their
    packages (DuckDB then loads them as installed, and never downloads)."""
    # Each package holds its extension built for the pinned DuckDB (requirements.txt pins them together).
    import duckdb_extension_ducklake
    import duckdb_extension_postgres_scanner

    folder = settings.ROOT / ".cache" / "duckdb-extensions"
    platform = duckdb.execute("PRAGMA platform").fetchone()[0]
    target = folder / f"v{duckdb.__version__}" / platform
    target.mkdir(parents=True, exist_ok=True)
    packages = ((duckdb_extension_ducklake, "ducklake"), (duckdb_extension_postgres_scanner, "postgres_scanner"))
    for module, name in packages:
        link = target / f"{name}.duckdb_extension"
        if not link.exists():
            source = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / link.name
            if not source.exists():
                raise StoreError(f"{source} is missing: install the pinned {module.__name__.replace('_', '-')} "
                                 f"for DuckDB {duckdb.__version__} (requirements.txt)")
            link.unlink(missing_ok=True)  # a link left dangling by an older package
            link.symlink_to(source)
    return folder


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def file_only(what: str) -> None:
    """Refuse ``what``, a task for the embedded file, while DROPMAP_STORE names a shared store."""
    if settings.get("DROPMAP_STORE"):
        raise StoreError(f"{what} works on the embedded file (DROPMAP_DB), and DROPMAP_STORE names a shared store. "
                         "Back a shared store up with pg_dump of its catalog and a copy of its data folder "
                         "(docs/OPERATIONS.md, \"A shared store\"), or unset DROPMAP_STORE")


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
def transaction(cur: duckdb.DuckDBPyConnection, *, writes: bool = False):
    """One transaction on ``cur``: committed when the block ends, rolled back when it raises.

    ``writes``: the block writes the store. In a shared store it then holds the store's writer lock
    (``store.pg.writer_lock``) for the whole block, so writes of several replicas go one at a time, as
    a file's do: a check made in the block (a report stored already?) still holds at its commit, and
    DuckLake never refuses a commit because another replica changed the same table meanwhile.
    """
    with writer_lock(cur) if writes else nullcontext():
        cur.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            rollback(cur)
            raise
        cur.execute("COMMIT")


def rollback(cur: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK, if a transaction is still open (a failed COMMIT has ended it already; saying so would hide
    why it failed)."""
    try:
        cur.execute("ROLLBACK")
    except duckdb.TransactionException:
        pass


def writer_lock(cur: duckdb.DuckDBPyConnection):
    """A context holding the shared store's writer lock when ``cur`` is on a shared store, else nothing (a
    file has one writing process, and its writers serialise in it)."""
    row = cur.execute("SELECT type, path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    if row is None or row[0] != "ducklake":
        return nullcontext()
    from store import pg

    return pg.writer_lock(SHARED_PREFIX + row[1])


@contextmanager
def cursor(con: duckdb.DuckDBPyConnection | None = None):
    """A cursor of ``con`` (None: the site's shared connection), closed when the block ends: ``with
    cursor(con) as cur:``. The one way code outside ``store/`` opens a cursor (tests/test_layers.py);
    a public read that needs a time limit goes through ``store.read.run_read``, which opens its cursor here."""
    cur = (con if con is not None else shared_connection()).cursor()
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
    if path is None:
        return settings.store_location()
    return str(path) if is_shared(path) else str(Path(path))


def close_shared() -> None:
    """Close every shared connection (tests, shutdown)."""
    with _shared_lock:
        for con in _shared.values():
            con.close()
        _shared.clear()
