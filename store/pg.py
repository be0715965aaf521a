"""The PostgreSQL database of a shared store's catalog, for the state the replicas share outside DuckLake.

With ``DROPMAP_STORE=ducklake:postgres:<conninfo>`` the replicas already share one PostgreSQL database: the
one DuckLake keeps its catalog in. Two things the site needs there cannot live in DuckLake itself, which has
no key constraints, no row locks and no atomic read-modify-write: the outage detector's lease
(``store.leases``) and the counters of the rate limits (``store.limits``). They are plain PostgreSQL tables
beside the catalog's, named ``dropmap_*``, written with single atomic statements (``INSERT ... ON CONFLICT
... DO UPDATE ... WHERE``) through psycopg: PostgreSQL's row lock on the conflicting row makes each check
and charge one step, which DuckDB's postgres_scanner could not promise (it runs statements inside DuckDB's
own transactions and returns no rows from a write). This module is the only place that calls
``psycopg.connect``.

The tables are created by named, ordered migrations recorded in ``dropmap_migrations`` (as the store's own
are in ``schema_migrations``), under an advisory lock so that replicas starting together apply each once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from core import settings
from core.errors import StoreError

log = logging.getLogger("dropmap.store")
POSTGRES_PREFIX = "ducklake:postgres:"
MAX_IDLE = 4  # connections kept open per database between uses
MAX_OPEN = 8  # connections open at once per database and process: PostgreSQL's are few, and shared by replicas
WAIT_SECONDS = 5.0  # for a free connection, before a StoreError (503 with Retry-After)
LOCK_SECONDS = 60  # for the writer or creation lock another replica holds (a large upload's batch, a new store)
_CREATION_LOCK = 0x44524F504D4151  # pg_advisory_lock keys: creating or migrating the DuckLake catalog,
_WRITER_LOCK = 0x44524F504D4152  # and writing the store (store.db.transaction(writes=True))
STATEMENT_MS = 5000  # no statement here should take more than a few milliseconds; this stops a stuck one
_MIGRATION_LOCK = 0x44524F504D4150  # pg_advisory_xact_lock key of the migrations ("DROPMAP")

MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (  # (name, its statements)
    ("0001_leases", (
        "CREATE TABLE dropmap_leases (name text PRIMARY KEY, holder text NOT NULL, acquired_at timestamptz NOT NULL,"
        " expires_at timestamptz NOT NULL)",
    )),
    ("0002_limit_counters", (
        # One row per limiter, scope and key: the counts of the window's buckets (store.limits).
        "CREATE TABLE dropmap_limit_counters (limiter text NOT NULL, scope text NOT NULL, key text NOT NULL,"
        " buckets bigint[] NOT NULL, counts integer[] NOT NULL, expires_at timestamptz NOT NULL,"
        " PRIMARY KEY (limiter, scope, key))",
        "CREATE INDEX dropmap_limit_counters_expiry ON dropmap_limit_counters (expires_at)",
    )),
)

_idle: dict[str, list[psycopg.Connection]] = {}
_slots: dict[str, threading.BoundedSemaphore] = {}
_migrated: set[str] = set()
_lock = threading.Lock()
_held = threading.local()  # the writer lock this thread holds: (database, depth)


def conninfo(location: str | None = None) -> str:
    """The libpq connection string of the shared store ``location`` (default: the site's store)."""
    location = location if location is not None else settings.store_location()
    if not location.startswith(POSTGRES_PREFIX):
        raise StoreError("the detector's lease and the shared rate limits need the store's catalog in PostgreSQL: "
                         "set DROPMAP_STORE=ducklake:postgres:<connection string>, or leave it empty for the "
                         "embedded file")
    return location[len(POSTGRES_PREFIX):]


def is_postgres(location: str | None = None) -> bool:
    """Whether ``location`` (default: the site's store) is a shared store with its catalog in PostgreSQL."""
    location = location if location is not None else settings.store_location()
    return location.startswith(POSTGRES_PREFIX)


@contextmanager
def connection(location: str | None = None) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the catalog's database, taken from a few kept open and put back after the
    block (closed instead when it broke or was left inside a transaction). Errors become StoreError."""
    info = conninfo(location)
    with _lock:
        slots = _slots.setdefault(info, threading.BoundedSemaphore(MAX_OPEN))
    if not slots.acquire(timeout=WAIT_SECONDS):
        raise StoreError("the shared store's PostgreSQL is busy; try again shortly")
    con = None
    try:
        with _lock:
            idle = _idle.setdefault(info, [])
            con = idle.pop() if idle else None
        if con is None:
            con = _open(info)
        yield con
    except psycopg.Error as e:
        # The details go to the operator's log, never into a message a page may show.
        log.error("the shared store's PostgreSQL refused: %s", str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise StoreError("the shared store's PostgreSQL refused (the site's log says why): check DROPMAP_STORE "
                         "and that PostgreSQL is running") from e
    finally:
        if con is not None:
            _put_back(info, con)
        slots.release()


@contextmanager
def creation_lock(location: str) -> Iterator[None]:
    """Held while one process creates a new DuckLake catalog or brings its schema up to date: replicas
    starting together then do it once, one after the other (a session lock, freed if the process dies)."""
    with connection(location) as con:
        _wait_for(con, _CREATION_LOCK)
        try:
            yield
        finally:
            con.execute("SELECT pg_advisory_unlock(%s)", [_CREATION_LOCK])


@contextmanager
def writer_lock(location: str) -> Iterator[None]:
    """Held for a transaction that writes the shared store (store.db.transaction(writes=True)): replicas
    write one at a time. Reentrant within a thread; a session lock, so a killed process frees it."""
    info = conninfo(location)
    held = getattr(_held, "state", None)
    if held is not None and held[0] == info:
        _held.state = (info, held[1] + 1)
        try:
            yield
        finally:
            _held.state = held
        return
    with connection(location) as con:
        _wait_for(con, _WRITER_LOCK)
        _held.state = (info, 1)
        try:
            yield
        finally:
            _held.state = None
            con.execute("SELECT pg_advisory_unlock(%s)", [_WRITER_LOCK])


def _wait_for(con: psycopg.Connection, key: int) -> None:
    """Take the advisory lock ``key``, waiting up to LOCK_SECONDS for another process to free it."""
    con.execute(f"SET statement_timeout = {LOCK_SECONDS * 1000}")
    try:
        con.execute("SELECT pg_advisory_lock(%s)", [key])
    finally:
        con.execute(f"SET statement_timeout = {STATEMENT_MS}")


def _open(info: str) -> psycopg.Connection:
    con = psycopg.connect(info, autocommit=True, connect_timeout=10, application_name="dropmap")
    con.execute(f"SET statement_timeout = {STATEMENT_MS}")
    if info not in _migrated:
        _migrate(con)
        with _lock:
            _migrated.add(info)
    return con


def _put_back(info: str, con: psycopg.Connection) -> None:
    healthy = not con.closed and not con.broken and con.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with _lock:
        idle = _idle.setdefault(info, [])
        if healthy and len(idle) < MAX_IDLE:
            idle.append(con)
            return
    con.close()


def _migrate(con: psycopg.Connection) -> None:
    """Apply the migrations not yet recorded, each once, whatever the number of replicas starting at once."""
    with con.transaction():
        con.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
        con.execute("CREATE TABLE IF NOT EXISTS dropmap_migrations (name text PRIMARY KEY, applied_at timestamptz"
                    " NOT NULL DEFAULT now())")
        done = {row[0] for row in con.execute("SELECT name FROM dropmap_migrations")}
        for name, statements in MIGRATIONS:
            if name not in done:
                for sql in statements:
                    con.execute(sql)
                con.execute("INSERT INTO dropmap_migrations (name) VALUES (%s)", [name])


def close_all() -> None:
    """Close the kept connections (tests, shutdown)."""
    with _lock:
        kept = [con for idle in _idle.values() for con in idle]
        _idle.clear()
    for con in kept:
        con.close()
