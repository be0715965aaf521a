"""Results of reads, kept per store and data version and shared by every page of the process.

``RESULTS.read(fn, *args, **kwargs)`` answers ``fn(cur, *args, **kwargs)`` (run as
``store.read.run_read`` runs it: its own cursor, closed afterwards, under the query time limit)
from a kept copy when it can:

- **The same data:** an entry is served while the store's data version
  (``store.aggregate_sql.data_version``: its batches and moderation actions) is the one it was
  computed on. The version is read at most once per ``VERSION_SECONDS``.
- **Fresh enough:** after new reports it is still served for ``DROPMAP_CACHE_SECONDS`` from when it
  was computed. Older than that, it is still served, while one background thread computes it again
  (stale while revalidating): a new report shows within DROPMAP_CACHE_SECONDS plus one computation,
  and no visitor waits for it except the first one ever to ask.
- **One computation at a time per key:** visitors who ask while the first computes wait for its
  answer rather than starting their own.
- **Bounded memory:** every value's size is estimated (pandas' deep memory use, Arrow and numpy
  buffers, the fields of a dataclass), and the least recently used entries go once the total passes
  ``DROPMAP_CACHE_MB``. A value larger than a quarter of that is answered but not kept.

Values are shared by every visitor: a caller copies before it changes one (the pages draw from
copies already). Keys are the function and its arguments, which must be hashable; the store's path
is part of every key, so two stores never share an entry.
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

log = logging.getLogger("dropmap.store.cache")
VERSION_SECONDS = 1.0


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
    misses: int = 0  # computed while the visitor waited
    refreshes: int = 0  # computed again in the background
    evictions: int = 0
    entries: int = 0
    bytes: int = 0
    max_bytes: int = 0


class ResultCache:
    def __init__(self, max_bytes: int | None = None) -> None:
        self._max_bytes = max_bytes
        self._kept: OrderedDict[tuple, _Entry] = OrderedDict()
        self._bytes = 0
        self._versions: dict[str, tuple[float, tuple]] = {}
        self._computing: dict[tuple, threading.Event] = {}
        self._refreshing: dict[tuple, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stats = CacheStats()

    @property
    def max_bytes(self) -> int:
        return self._max_bytes if self._max_bytes is not None else settings.get_int("DROPMAP_CACHE_MB") << 20

    def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(cur, *args, **kwargs)`` from the kept copy when it may be served, else computed (and kept)."""
        store = str(settings.db_path())
        key = (store, fn.__module__, fn.__qualname__, args, tuple(sorted(kwargs.items())))
        version = self._version(store)
        while True:
            with self._lock:
                entry = self._kept.get(key)
                if entry is not None:
                    self._kept.move_to_end(key)
                    if entry.version == version:
                        self._stats.hits += 1
                        return entry.value
                    self._stats.stale_hits += 1
                    old = time.monotonic() - entry.made >= settings.get_int("DROPMAP_CACHE_SECONDS")
                    if old and key not in self._refreshing and key not in self._computing:
                        thread = threading.Thread(target=self._refresh, args=(key, fn, args, kwargs, version),
                                                  name="cache-refresh", daemon=True)
                        self._refreshing[key] = thread
                        thread.start()
                    return entry.value
                waiting = self._computing.get(key)
                if waiting is None:
                    self._computing[key] = threading.Event()
                    self._stats.misses += 1
                    break
            waiting.wait()  # another visitor computes it: take theirs (or, if theirs failed, compute)
        try:
            return self._compute(key, fn, args, kwargs, version)
        finally:
            with self._lock:
                self._computing.pop(key).set()

    def _compute(self, key: tuple, fn: Callable[..., Any], args: tuple, kwargs: dict, version: tuple) -> Any:
        from store.read import run_read

        value = run_read(lambda cur: fn(cur, *args, **kwargs))
        self._keep(key, value, version)
        return value

    def _refresh(self, key: tuple, fn: Callable[..., Any], args: tuple, kwargs: dict, version: tuple) -> None:
        try:
            self._compute(key, fn, args, kwargs, version)
            with self._lock:
                self._stats.refreshes += 1
        except Exception:  # noqa: BLE001 -- the older answer stays; the next visitor after the interval retries
            log.warning("a cached result could not be computed again", exc_info=True)
        finally:
            with self._lock:
                self._refreshing.pop(key, None)

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
        store = str(settings.db_path())
        with self._lock:
            return [(k[2], k[3], k[4]) for k in self._kept if k[0] == store]

    def wait(self) -> None:
        """Until the background computations under way have finished (tests, benchmarks)."""
        with self._lock:
            threads = list(self._refreshing.values())
        for thread in threads:
            thread.join()

    def clear(self) -> None:
        self.wait()
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
