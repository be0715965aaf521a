"""Results of reads, kept per store and data version and shared by every page of the process.

``RESULTS.read(fn, *args, **kwargs)`` answers ``fn(cur, *args, **kwargs)`` (run as
``store.read.run_read`` runs it: its own cursor, closed afterwards, under the query time limit)
from a kept copy when it may:

- **The same data:** an entry is served while the store's data version
  (``store.aggregate_sql.data_version``: its batches and moderation actions) is the one it was
  computed on. The version is read at most once per ``VERSION_SECONDS``.
- **Fresh enough:** after new reports it is still served for ``DROPMAP_CACHE_SECONDS`` from when it
  was computed; then, up to ``STALE_FACTOR`` times that age, it is served while one background
  worker computes it again (stale while revalidating: visitors do not wait for it).
- **Never older than that:** an entry computed more than ``STALE_FACTOR`` x DROPMAP_CACHE_SECONDS ago
  on data that have changed since, or before the operator flagged or restored reports, is not
  served: the visitor waits for the computation, and sees its error if it fails.
- **One computation at a time per key:** visitors who ask while it runs wait for its answer (or its
  error) rather than starting their own. Background computations run one at a time in one worker,
  each key queued once, so a burst of visitors cannot start many at once.
- **Bounded memory:** every value's size is estimated (pandas' deep memory use, Arrow and numpy
  buffers, the fields of a dataclass), and the least recently used entries go once the total passes
  ``DROPMAP_CACHE_MB``. A value larger than a quarter of that is answered but not kept.

Values are shared by every visitor: a caller copies before it changes one (the pages draw from
copies already). Keys are the store's path, k and the function with its arguments (which must be
hashable), so two stores, or two values of k, never share an entry.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core import settings
from store.read import BackgroundReads

log = logging.getLogger("dropmap.store.cache")
VERSION_SECONDS = 1.0
STALE_FACTOR = 3  # an out-of-date entry is served up to this many DROPMAP_CACHE_SECONDS after it was computed


def _call(cur, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    return fn(cur, *args, **kwargs)


@dataclass
class _Entry:
    value: Any
    version: tuple
    made: float  # time.monotonic() when computed
    size: int


@dataclass
class CacheStats:
    hits: int = 0
    stale_hits: int = 0  # served while out of date (fresh enough, or while being computed again)
    misses: int = 0  # computed while the visitor waited (never asked before, or too old to serve)
    refreshes: int = 0  # computed again in the background
    evictions: int = 0
    entries: int = 0
    bytes: int = 0
    max_bytes: int = 0


@dataclass
class _Pending:
    """A computation under way, which visitors asking for the same key wait for."""

    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


class ResultCache:
    def __init__(self, max_bytes: int | None = None) -> None:
        self._max_bytes = max_bytes
        self._kept: OrderedDict[tuple, _Entry] = OrderedDict()
        self._bytes = 0
        self._versions: dict[str, tuple[float, tuple]] = {}
        self._computing: dict[tuple, _Pending] = {}
        self._queued: OrderedDict[tuple, tuple] = OrderedDict()  # key -> (fn, args, kwargs, version)
        self._worker: threading.Thread | None = None
        self._refreshing: tuple | None = None  # the key the worker computes now
        self._reads = BackgroundReads()  # the worker's reads, which stop() interrupts
        self._lock = threading.Lock()
        self._stats = CacheStats()

    @property
    def max_bytes(self) -> int:
        return self._max_bytes if self._max_bytes is not None else settings.get_int("DROPMAP_CACHE_MB") << 20

    @staticmethod
    def _key(store: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> tuple:
        return (store, settings.min_reporters(), fn.__module__, fn.__qualname__, args, tuple(sorted(kwargs.items())))

    def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(cur, *args, **kwargs)`` from the kept copy when it may be served, else computed (and kept)."""
        store = settings.store_location()
        key = self._key(store, fn, args, kwargs)
        version = self._version(store)
        with self._lock:
            entry = self._kept.get(key)
            if entry is not None:
                self._kept.move_to_end(key)
                if entry.version == version:
                    self._stats.hits += 1
                    return entry.value
                age = time.monotonic() - entry.made
                fresh_for = settings.get_int("DROPMAP_CACHE_SECONDS")
                moderated = entry.version[-1] != version[-1]  # data_version ends with the moderation actions
                if not moderated and age < STALE_FACTOR * fresh_for:
                    self._stats.stale_hits += 1
                    if age >= fresh_for:
                        self._enqueue(key, (fn, args, kwargs, version))
                    return entry.value
            pending = self._computing.get(key)
            mine = pending is None
            if mine:
                pending = self._computing[key] = _Pending()
                self._stats.misses += 1
        if not mine:
            pending.done.wait()
            if pending.error is not None:
                raise pending.error
            return pending.value
        try:
            pending.value = self._compute(key, fn, args, kwargs, version)
            return pending.value
        except BaseException as e:
            pending.error = e
            raise
        finally:
            with self._lock:
                self._computing.pop(key, None)
            pending.done.set()

    def keep_current(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Queue ``fn(cur, *args, **kwargs)`` for the background worker when no visitor could be served
        its kept copy without waiting soon: none is kept, or it is out of date and older than
        DROPMAP_CACHE_SECONDS, or from before a moderation action. Called on a timer for the views
        every visitor opens (geo.mapview.keep_views), so they are computed at ingest's pace, never
        while a visitor waits. True when queued (not when it is queued or being computed already)."""
        store = settings.store_location()
        key = self._key(store, fn, args, kwargs)
        version = self._version(store)
        with self._lock:
            entry = self._kept.get(key)
            if entry is not None and (entry.version == version or (
                    entry.version[-1] == version[-1]
                    and time.monotonic() - entry.made < settings.get_int("DROPMAP_CACHE_SECONDS"))):
                return False
            return self._enqueue(key, (fn, args, kwargs, version))

    def _compute(self, key: tuple, fn: Callable[..., Any], args: tuple, kwargs: dict, version: tuple) -> Any:
        """``fn`` for a visitor who waits: under the public time limit (DROPMAP_QUERY_MS)."""
        from store.read import run_read

        value = run_read(lambda cur: fn(cur, *args, **kwargs))
        self._keep(key, value, version)
        return value

    def _enqueue(self, key: tuple, job: tuple) -> bool:
        """Queue ``key`` to be computed again by the one background worker (under the lock); False when
        it is queued, being computed by a visitor, or being computed by the worker already."""
        if key in self._queued or key in self._computing or key == self._refreshing:
            return False
        self._queued[key] = job
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="cache-refresh", daemon=True)
            self._worker.start()
        return True

    def _work(self) -> None:
        from store.read import time_limit_ms

        while True:
            with self._lock:
                if not self._queued:
                    self._worker, self._refreshing = None, None
                    return
                key, (fn, args, kwargs, version) = self._queued.popitem(last=False)
                self._refreshing = key
            # Nobody waits for it: the background's own limit (DROPMAP_BUILD_MS; 0: a request's).
            limit_ms = settings.get_int("DROPMAP_BUILD_MS") or time_limit_ms()
            try:
                value = self._reads.run(_call, fn, args, kwargs, limit_ms=limit_ms)
                self._keep(key, value, version)
                with self._lock:
                    self._stats.refreshes += 1
            except Exception:  # noqa: BLE001 -- the older answer stays until it is too old to serve
                log.warning("a kept result could not be computed again", exc_info=True)

    def _keep(self, key: tuple, value: Any, version: tuple) -> None:
        size = size_of(value)
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            if size > self.max_bytes // 4:
                return
            self._kept[key] = _Entry(value, version, time.monotonic(), size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._kept:
                _, dropped = self._kept.popitem(last=False)
                self._bytes -= dropped.size
                self._stats.evictions += 1

    def _version(self, store: str) -> tuple:
        from store.aggregate_sql import data_version
        from store.read import run_read

        now = time.monotonic()
        with self._lock:
            seen = self._versions.get(store)
            if seen is not None and now - seen[0] < VERSION_SECONDS:
                return seen[1]
        version = tuple(run_read(data_version))
        with self._lock:
            self._versions[store] = (now, version)
        return version

    def stats(self) -> CacheStats:
        with self._lock:
            return dataclasses.replace(self._stats, entries=len(self._kept), bytes=self._bytes,
                                       max_bytes=self.max_bytes)

    def kept(self) -> list[tuple[str, tuple, tuple]]:
        """(function name, args, keyword args) of every kept entry of this store, least recent first."""
        store = settings.store_location()
        with self._lock:
            return [(k[3], k[4], k[5]) for k in self._kept if k[0] == store]

    def wait(self) -> None:
        """Until the background worker has computed everything queued (tests, benchmarks, shutdown)."""
        while True:
            with self._lock:
                worker = self._worker
            if worker is None:
                return
            worker.join()

    def stop(self) -> None:
        """Drop what is queued and stop the computation under way (DuckDB's interrupt on the worker's
        cursor, repeated until it ends), then wait for the worker (the site's shutdown: a daemon
        thread inside DuckDB when the interpreter exits can abort the process)."""
        with self._lock:
            self._queued.clear()
        self._reads.stop(lambda: self._worker)

    def clear(self) -> None:
        self.stop()
        with self._lock:
            self._kept.clear()
            self._versions.clear()
            self._bytes = 0
            self._stats = CacheStats()


def size_of(value: Any, _depth: int = 0) -> int:
    """Bytes a value holds, estimated: pandas' deep memory use, Arrow and numpy buffers, and the
    parts of dataclasses, tuples, lists and dicts (to a few levels)."""
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(deep=True, index=True).sum())
    if isinstance(value, pd.Series | pd.Index):
        return int(value.memory_usage(deep=True))
    if isinstance(value, pa.Table | pa.Array | pa.ChunkedArray):
        return int(value.nbytes)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if _depth > 4:
        return sys.getsizeof(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sys.getsizeof(value) + sum(size_of(getattr(value, f.name), _depth + 1)
                                          for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(size_of(k, _depth + 1) + size_of(v, _depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return sys.getsizeof(value) + sum(size_of(v, _depth + 1) for v in value)
    return sys.getsizeof(value)


RESULTS = ResultCache()
