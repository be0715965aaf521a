"""The one way the HTTP API reads the store: a fresh cursor, closed afterwards, and a time limit.

Modelled on datasette's ``sql_time_limit_ms``: a read that runs longer than
DROPMAP_QUERY_MS is stopped with DuckDB's ``interrupt()`` on its own cursor
(other cursors of the shared connection run on) and raises ``QueryTimeout``.
The API answers that with 503 and Retry-After, in the same body shape as
every other error, and never with the database's path or a process id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import TypeVar

import duckdb

from core import settings
from core.errors import StoreError

log = logging.getLogger("dropmap.store.read")
T = TypeVar("T")
RETRY_AFTER_SECONDS = 30
_REPEAT_SECONDS = 0.02  # an interrupt that lands between two statements is lost: repeat it until the read ends


class QueryTimeout(StoreError):
    """A public read ran past its time limit and was stopped."""

    def __init__(self, limit_ms: int) -> None:
        self.limit_ms = limit_ms
        super().__init__(f"the query took longer than {limit_ms} ms and was stopped; try again later or ask for "
                         "less (a shorter period, one carrier), or download the snapshot files")


def time_limit_ms() -> int:
    return settings.get_int("DROPMAP_QUERY_MS")


@contextmanager
def time_limit(cur: duckdb.DuckDBPyConnection, limit_ms: int):
    """Stop what ``cur`` runs inside the block after ``limit_ms`` (0 or less: no limit): DuckDB's
    ``interrupt()`` on that cursor alone, repeated until the block ends (one landing between two
    statements is lost), and QueryTimeout instead of the driver's error. The one time-limit mechanism
    of the project: ``run_read`` and the station counts use it."""
    done = threading.Event()
    expired = threading.Event()

    def watch() -> None:
        if done.wait(limit_ms / 1000):
            return
        expired.set()
        while not done.is_set():
            cur.interrupt()
            done.wait(_REPEAT_SECONDS)

    watcher = threading.Thread(target=watch, name="dropmap-query-limit", daemon=True) if limit_ms > 0 else None
    started = time.monotonic()
    if watcher:
        watcher.start()
    try:
        yield
    except duckdb.Error as e:
        # Only this block's own limit is reported here: inside another time_limit (a page's or the
        # API's read around the station counts), the outer one that fired reports its own limit.
        # An interrupted statement can also surface as another driver error.
        if expired.is_set():
            raise QueryTimeout(limit_ms) from e
        raise
    finally:
        done.set()
        if watcher:
            watcher.join()
        if expired.is_set():
            log.warning("query stopped after %.0f ms", (time.monotonic() - started) * 1000)


def run_read(read: Callable[..., T], *args, limit_ms: int | None = None) -> T:
    """``read(cur, *args)`` on a fresh cursor of the site's one connection, closed afterwards and stopped
    after ``limit_ms`` (DROPMAP_QUERY_MS by default; 0 or less: no limit). Blocks: call it from a
    worker thread or a page's script thread."""
    from store.db import cursor

    limit_ms = time_limit_ms() if limit_ms is None else limit_ms
    with cursor() as cur, time_limit(cur, limit_ms):
        return read(cur, *args)


class BackgroundReads:
    """The reads of one background worker (the map cache's, the hex aggregates' builder): each on a
    fresh cursor with its own time limit, which ``stop`` interrupts from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cur: duckdb.DuckDBPyConnection | None = None

    def run(self, read: Callable[..., T], *args, limit_ms: int) -> T:
        """``read(cur, *args)`` on a fresh cursor, closed afterwards and stopped after ``limit_ms``."""
        from store.db import cursor

        with cursor() as cur:
            with self._lock:
                self._cur = cur
            try:
                with time_limit(cur, limit_ms):
                    return read(cur, *args)
            finally:  # before the cursor closes: stop() never interrupts a closed one
                with self._lock:
                    self._cur = None

    def stop(self, worker_of: Callable[[], threading.Thread | None]) -> None:
        """Interrupt the read under way, again and again, until the worker ``worker_of()`` names has
        ended (None: no worker)."""
        while (worker := worker_of()) is not None:
            with self._lock:
                cur = self._cur
            if cur is not None:
                try:
                    cur.interrupt()
                except duckdb.Error:  # closed meanwhile: the read has ended
                    pass
            worker.join(0.05)


def unavailable_body(error: StoreError) -> tuple[dict, int, dict]:
    """(body, status, headers) of the API's answer to a failed read: 503 with Retry-After, the reason
    in plain words, without the database's path or any process id (those go to the log)."""
    if isinstance(error, QueryTimeout):
        message = str(error)
    else:
        log.warning("store unavailable: %s", error)
        message = "the database is unavailable (busy or being restarted); try again shortly"
    return ({"errors": [{"field": None, "value": None, "message": message}]}, 503,
            {"Retry-After": str(RETRY_AFTER_SECONDS)})
