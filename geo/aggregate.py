"""Hex aggregates for open data: per H3 cell x host network x local time bucket x failure kind.

What a row shows and when it is left out is documented in docs/DATA.md; the
short version: every figure comes from at least k distinct reporters (or is
zero), rows are emitted only when they show such a figure, and periods are
whole local days (``by=date``) or whole Monday-Sunday weeks (hour buckets)
that have already ended, so two exports never differ by a few hours of data.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import monotonic

import duckdb
import h3
import numpy as np
import pandas as pd
import pyarrow as pa

from core import settings
from core.city import load_city
from core.errors import InputError, StoreError
from core.vocab import KINDS, NETWORKS, host_network
from geo.privacy import PRIVATE_COLUMNS, min_reporters
from store import aggregate_sql
from store.filters import ReportFilter
from store.read import BackgroundReads

EXPORT_RESOLUTIONS: tuple[int, ...] = (7, 8, 9)
BY_CHOICES: tuple[str, ...] = tuple(aggregate_sql.BUCKETS)
DEMO_CHOICES: tuple[str, ...] = ("include", "exclude")
ALL_FAILURES = aggregate_sql.ALL_FAILURES
KIND_ORDER: list[str] = [ALL_FAILURES, *KINDS]
PARAMETERS: tuple[str, ...] = ("res", "carrier", "since", "until", "by", "demo")
log = logging.getLogger("dropmap.geo.aggregate")


@dataclass(frozen=True)
class ExportQuery:
    """What an export asks for; the same parameters in the CLI, the API and the Downloads page."""

    res: int = 8
    by: str = "hour"
    carrier: str | None = None  # a host network (SKT, KT, LGU+); None: all three
    since: date | None = None  # local date, inclusive; None: from the first report
    until: date | None = None  # local date, inclusive; None: to the last complete period
    include_demo: bool = True  # synthetic rows are marked (is_synthetic) when included

    def __post_init__(self) -> None:
        if self.res not in EXPORT_RESOLUTIONS:
            raise InputError("res", self.res, f"use one of {', '.join(map(str, EXPORT_RESOLUTIONS))}")
        if self.by not in BY_CHOICES:
            raise InputError("by", self.by, f"use one of {', '.join(BY_CHOICES)}")
        if self.carrier is not None and self.carrier not in NETWORKS:
            raise InputError("carrier", self.carrier, f"use one of {', '.join(NETWORKS)}")
        if self.since and self.until and self.since > self.until:
            raise InputError("since", self.since.isoformat(), f"must not be after until={self.until}")

    def as_params(self) -> dict:
        """The query as the parameters that reproduce it (for manifests and URLs)."""
        return {
            "res": self.res, "by": self.by, "carrier": self.carrier,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "demo": "include" if self.include_demo else "exclude",
        }


def parse_query(params: Mapping[str, object]) -> ExportQuery:
    """An ExportQuery from text parameters (URL query, CLI); raises ``QueryErrors`` listing every bad one."""
    errors: list[InputError] = []
    values: dict = {}
    for name in params:
        if name not in PARAMETERS:
            errors.append(InputError(name, params[name], f"unknown parameter; use {', '.join(PARAMETERS)}"))
    for name, parse in (("res", _parse_res), ("by", _parse_by), ("carrier", _parse_carrier),
                        ("since", _parse_date), ("until", _parse_date), ("demo", _parse_demo)):
        raw = params.get(name)
        if raw is None:
            continue
        if str(raw).strip() == "":  # `until=` or `--until ""`: a mistake, not "the default"
            errors.append(InputError(name, raw, "empty: give a value or leave the parameter out"))
            continue
        try:
            values[name] = parse(name, str(raw).strip())
        except InputError as e:
            errors.append(e)
    if errors:
        raise QueryErrors(errors)
    include_demo = values.pop("demo", True)
    try:
        return ExportQuery(include_demo=include_demo, **values)
    except InputError as e:
        raise QueryErrors([e]) from e


class QueryErrors(InputError):
    """Several bad parameters at once; ``errors`` lists each as an InputError."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.field, first.value, "; ".join(
            [first.message] + [f"{e.field}={e.value!r}: {e.message}" for e in errors[1:]]))


def _parse_res(name: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) not in EXPORT_RESOLUTIONS:
        raise InputError(name, raw, f"use one of {', '.join(map(str, EXPORT_RESOLUTIONS))} (8 is about 0.7 km²)")
    return int(raw)


def _parse_by(name: str, raw: str) -> str:
    if raw not in BY_CHOICES:
        raise InputError(name, raw, f"use one of {', '.join(BY_CHOICES)}")
    return raw


def _parse_carrier(name: str, raw: str) -> str | None:
    if raw.lower() in ("all", "any", "전체"):
        return None
    try:
        return host_network(raw, field=name)
    except InputError as e:
        raise InputError(name, raw, f"{e.message} (or all)") from e


EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2099, 12, 31)


def _parse_date(name: str, raw: str) -> date:
    try:
        value = date.fromisoformat(raw)
    except ValueError as e:
        raise InputError(name, raw, "use a date like 2021-10-25 (local Seoul date, whole days)") from e
    if not EARLIEST_DATE <= value <= LATEST_DATE:  # 9999-12-31 would overflow when widened to a whole week
        raise InputError(name, raw, f"use a date between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


def _parse_demo(name: str, raw: str) -> bool:
    if raw not in DEMO_CHOICES:
        raise InputError(name, raw, "use include (synthetic rows marked is_synthetic) or exclude")
    return raw == "include"


# --- periods ------------------------------------------------------------------


# Why a period differs from the one asked for: code -> (Korean, English).
PERIOD_NOTES = {
    "whole_weeks": ("월~일 한 주 단위로 넓힘", "widened to whole weeks (Monday-Sunday)"),
    "last_complete_week": ("끝난 주까지만", "ends with the last complete week"),
    "last_complete_day": ("끝난 날까지만", "ends with the last complete day"),
    "snapshot_weeks": ("자료의 마지막 끝난 주까지 13주", "the 13 complete weeks ending with the last week of data"),
}


@dataclass(frozen=True)
class Period:
    """The local dates an export covers, after widening to whole weeks and capping at complete ones."""

    since: date
    until: date
    notes: tuple[str, ...] = ()  # codes of PERIOD_NOTES

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


def today_local(now: datetime | None = None) -> date:
    zone = load_city().tz
    return (now.astimezone(zone) if now else datetime.now(zone)).date()


def resolve_period(query: ExportQuery, first: date | None, last: date | None, today: date) -> Period | None:
    """The period an export covers; None when there is no complete period with data.

    ``first``/``last`` are the local dates of the first and last matching report.
    Hour buckets aggregate over many days, so their periods snap outwards to whole
    Monday-Sunday weeks and end with the last week that has ended; ``by=date`` rows
    are single days and end yesterday. Two exports then differ by whole weeks or
    whole days, never by the last few hours of reports.
    """
    since = query.since or first
    until = query.until or last
    if since is None or until is None:
        return None
    if query.since and not query.until and until < since:
        until = since  # all data is older than ``since``: an empty period, not an error
    notes: list[str] = []
    if query.by == "date":
        last_complete = today - timedelta(days=1)
    else:
        monday = since - timedelta(days=since.weekday())
        sunday = until + timedelta(days=6 - until.weekday())
        if (monday, sunday) != (since, until):
            notes.append("whole_weeks")
        since, until = monday, sunday
        last_complete = today - timedelta(days=today.weekday() + 1)  # the Sunday before today
    if until > last_complete:
        until = last_complete
        notes.append("last_complete_day" if query.by == "date" else "last_complete_week")
    if since > until:
        if query.since or query.until:
            raise InputError(
                "until" if query.until else "since", (query.until or query.since).isoformat(),
                f"no complete period: exports end with the last complete {'day' if query.by == 'date' else 'week'} "
                f"({last_complete.isoformat()}); "
                + ("use by=date for recent days" if query.by != "date" else "choose dates before today"),
            )
        return None
    return Period(since, until, tuple(notes))


def snapshot_period(last: date | None, today: date, *, days: int = 90) -> Period | None:
    """The standard snapshot's period: the 13 whole weeks (91 days) ending with the last complete week of data."""
    if last is None:
        return None
    sunday = last + timedelta(days=6 - last.weekday())
    sunday = min(sunday, today - timedelta(days=today.weekday() + 1))
    monday = sunday - timedelta(days=days)  # a Sunday minus 90 days is a Monday: 13 weeks
    return Period(monday, sunday, ("snapshot_weeks",))


def reach(query: ExportQuery, today: date) -> tuple[datetime | None, datetime]:
    """The widest span of observed_at (UTC bounds, ``since`` None: from the first report) that ``query``
    can cover on ``today``, whatever the data holds: the period's end is capped at the last complete
    week or day, so reports observed later never change what it aggregates. Raises InputError as
    ``resolve_period`` does for a period with no complete week or day."""
    widest = resolve_period(query, query.since or date.min, query.until or today, today)
    zone = load_city().tz
    since = datetime.combine(widest.since, time.min, zone) if query.since else None
    return since, datetime.combine(widest.until + timedelta(days=1), time.min, zone)


# --- the aggregate --------------------------------------------------------------


@dataclass
class Aggregate:
    """A built aggregate: the TEMP table on ``cursor`` plus what describes it."""

    cursor: duckdb.DuckDBPyConnection
    query: ExportQuery
    period: Period | None
    k: int
    rows: int
    cells: pd.DataFrame = field(repr=False)

    @property
    def columns(self) -> tuple[str, ...]:
        return aggregate_sql.output_columns(self.query.by)

    def sql(self, *, limit: int | None = None, offset: int = 0) -> tuple[str, list]:
        """The SELECT giving the output rows, in file order."""
        return aggregate_sql.output_query(res=self.query.res, by=self.query.by, kind_order=KIND_ORDER,
                                          limit=limit, offset=offset)

    def frame(self, *, limit: int | None = None, offset: int = 0) -> pd.DataFrame:
        """Output rows as a DataFrame (a page of them when ``limit`` is given)."""
        frame = aggregate_sql.fetch_frame(self.cursor, *self.sql(limit=limit, offset=offset))
        assert_public(frame)
        return frame

    def records(self, *, limit: int | None = None, offset: int = 0) -> list[dict]:
        """Output rows as JSON-ready dicts (dates as ISO strings, suppressed figures as None)."""
        out: list[dict] = []
        for batch in aggregate_sql.arrow_batches(self.cursor, *self.sql(limit=limit, offset=offset)):
            for row in batch.to_pylist():
                if "date" in row and row["date"] is not None:
                    row["date"] = row["date"].isoformat()
                out.append(row)
        return out

    def has_synthetic(self) -> bool:
        return aggregate_sql.has_synthetic(self.cursor)


def assert_public(frame: pd.DataFrame) -> None:
    """Fail loudly if a private column ever reaches an output."""
    leaked = PRIVATE_COLUMNS.intersection(frame.columns)
    if leaked:
        raise AssertionError(f"private columns in a public output: {sorted(leaked)}")


def report_filter(query: ExportQuery, period: Period | None = None) -> ReportFilter:
    """The reports behind an export: unflagged failures AND 'all good' samples."""
    return ReportFilter(
        networks=(query.carrier,) if query.carrier else (),
        since=period.since if period else None,
        until=period.until if period else None,
        include_demo=query.include_demo,
        failures_only=False,
    )


def data_dates(cur: duckdb.DuckDBPyConnection, query: ExportQuery) -> tuple[date | None, date | None]:
    """Local dates of the first and last report an export of ``query`` could include."""
    first, last = aggregate_sql.data_span(cur, report_filter(query))
    zone = load_city().tz
    return (first.astimezone(zone).date() if first else None, last.astimezone(zone).date() if last else None)


RESOLVE = "resolve"  # build(period=RESOLVE): derive the period from the query and the data


def build(cur: duckdb.DuckDBPyConnection, query: ExportQuery, *, today: date | None = None,
          period: Period | None | str = RESOLVE) -> Aggregate:
    """Aggregate the store for ``query`` into a TEMP table on ``cur`` (use one cursor per export).

    ``period`` overrides the period resolved from the query; None builds an empty aggregate.
    """
    if period == RESOLVE:
        first, last = data_dates(cur, query)
        period = resolve_period(query, first, last, today or today_local())
    k = min_reporters()
    rows = aggregate_sql.build_aggregate(
        cur, res=query.res, by=query.by, k=k,
        report_filter=report_filter(query, period) if period else None,
    )
    cells = cell_table(aggregate_sql.aggregate_cells(cur))
    aggregate_sql.register_cells(cur, cells)
    return Aggregate(cursor=cur, query=query, period=period, k=k, rows=rows, cells=cells)


class TooLarge(InputError):
    """An aggregate with more rows than the hex API pages through (``AggregateCache.max_rows``)."""

    def __init__(self, query: ExportQuery, rows: int, limit: int) -> None:
        value = query.since.isoformat() if query.since else "(from the first report)"
        super().__init__("since", value, (
            f"this aggregate has {rows:,} rows, more than the API serves ({limit:,}): ask for a shorter "
            "period (since/until), one carrier or a coarser res, or write the whole of it with "
            "`python -m geo export`"))
        self.rows = rows


class StillBuilding(StoreError):
    """The aggregate asked for is being built in the background (``AggregateCache.build_later``)."""


class BuildFailed(StoreError):
    """The background build of the aggregate asked for failed (or ran past DROPMAP_BUILD_MS) lately."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__("this aggregate could not be built in the background within DROPMAP_BUILD_MS; ask for "
                         "less (a shorter period, one carrier, a coarser res) or write it with "
                         "`python -m geo export`")


@dataclass
class _Kept:
    table: pa.Table  # the aggregate's rows
    cells: pd.DataFrame
    period: Period | None
    k: int
    rows: int
    keys: tuple = ()  # every key it is kept under


FAILED_SECONDS = 600  # a background build that failed is not queued again for this long


class AggregateCache:
    """Aggregates built recently, so that paging through one (the hex API) builds it once.

    An entry is keyed by the query, k, today's date (open periods end with the last complete
    week) and the version of the store within what the query can cover (``reach``;
    ``aggregate_sql.period_version``: the store's file, and its batches and moderation actions
    whose reports lie in that span): a report stored or flagged within it, a new day, another k
    or another store builds afresh, and the older version of the same aggregate is dropped.
    Reports observed after the span (a live site's new reports, when the period ends with the
    last complete week) leave the entry as it is. An entry is kept under the query asked and
    under the same query with its period written out (what the next-page links ask). Rows are
    kept as Arrow tables (about 100 bytes a row) and restored as the TEMP table of the caller's
    cursor; at most ``entries`` aggregates of at most ``max_rows`` rows, and the least recent go
    first once they hold more than DROPMAP_CACHE_MB (the newest is always kept).

    An aggregate too slow for a request is built by one background worker (``build_later``).
    """

    def __init__(self, entries: int = 16, max_rows: int = 1_000_000, queue: int = 4) -> None:
        self.entries, self.max_rows, self.queue = entries, max_rows, queue
        self._kept: OrderedDict[tuple, _Kept] = OrderedDict()
        self._too_large: OrderedDict[tuple, int] = OrderedDict()  # key -> rows, of aggregates not kept
        self._queued: OrderedDict[tuple, ExportQuery] = OrderedDict()
        self._failed: dict[tuple, float] = {}  # query -> monotonic() of its failed background build
        self._building: tuple | None = None
        self._reads = BackgroundReads()  # the builder's reads, which stop() interrupts
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def _key(self, cur: duckdb.DuckDBPyConnection, query: ExportQuery, today: date) -> tuple:
        # Reports stored or flagged outside what the query can cover (today's, while it covers whole
        # weeks that have ended) leave a kept aggregate as it was: paging goes on while reports arrive.
        store, *version = aggregate_sql.period_version(cur, *reach(query, today))
        return (store, tuple(version), tuple(query.as_params().items()), min_reporters(), today)

    def build(self, cur: duckdb.DuckDBPyConnection, query: ExportQuery, *, today: date | None = None,
              before_build=None, refuse_rows: int | None = None, wait_for_background: bool = True,
              _background: bool = False) -> Aggregate:
        """``build(cur, query)``, from a kept copy when the same aggregate was built on the same data.

        Every aggregate built is kept (up to ``max_rows`` rows): the next page, and the next client
        asking the same, read the kept copy.
        ``before_build()`` is called only when the aggregate must be built (the hex API charges
        the client's budget there; what it raises stops the build).
        ``refuse_rows``: raise ``TooLarge`` instead of building an aggregate that the background
        worker built on the same data and found to have more rows than that (too slow to build
        within a request, too large to keep).
        ``wait_for_background=False``: raise ``StillBuilding`` instead of building an aggregate the
        background worker is building or about to build, and ``BuildFailed`` for one whose
        background build failed in the last FAILED_SECONDS.
        """
        today = today or today_local()
        key = self._key(cur, query, today)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                for k in kept.keys:
                    self._kept.move_to_end(k)
            rows = self._too_large.get(key)
            pending = self._pending(query)
            failed = self._failed.get(tuple(query.as_params().items()))
        if refuse_rows is not None and rows is not None and rows > refuse_rows:
            raise TooLarge(query, rows, refuse_rows)
        if kept is not None:
            aggregate_sql.restore_aggregate(cur, kept.table)
            aggregate_sql.register_cells(cur, kept.cells)
            return Aggregate(cursor=cur, query=query, period=kept.period, k=kept.k, rows=kept.rows, cells=kept.cells)
        if not wait_for_background:
            if pending:
                raise StillBuilding("this aggregate is being built in the background; ask again in a minute or two")
            if failed is not None and monotonic() - failed < FAILED_SECONDS:
                raise BuildFailed(int(FAILED_SECONDS - (monotonic() - failed)) + 1)
        if before_build is not None:
            before_build()
        # Both keys are read before the build, and the asked one again after it: rows are kept only
        # under versions they were built on (a batch or a flag during the build keeps nothing).
        first, last = data_dates(cur, query)
        period = resolve_period(query, first, last, today)
        keys = [key]
        if period is not None:
            pinned = ExportQuery(res=query.res, by=query.by, carrier=query.carrier, since=period.since,
                                 until=period.until, include_demo=query.include_demo)
            if pinned != query:
                keys.append(self._key(cur, pinned, today))
        agg = build(cur, query, today=today, period=period)
        if self._key(cur, query, today) == key:
            self._keep(cur, tuple(keys), agg, remember_too_large=_background)
        return agg

    def _keep(self, cur: duckdb.DuckDBPyConnection, keys: tuple, agg: Aggregate, *,
              remember_too_large: bool) -> None:
        """Keep ``agg`` under ``keys``: the query asked, and the same query with its period written
        out (what the next-page links ask). One with more than ``max_rows`` rows is not kept; built
        in the background (too slow for a request), it is remembered, and the hex API refuses it
        (``refuse_rows``) rather than build it again for each page; built within a request, each
        page builds it again, as before. Entries go whole (both keys) when the bounds are passed."""
        if agg.rows > self.max_rows:
            if not remember_too_large:
                return
            with self._lock:
                for k in keys:
                    self._too_large[k] = agg.rows
                while len(self._too_large) > 64:
                    self._too_large.popitem(last=False)
            return
        kept = _Kept(aggregate_sql.aggregate_table(cur), agg.cells, agg.period, agg.k, agg.rows, keys)
        with self._lock:
            for new in keys:
                for old in [k for k in self._kept if k[0] == new[0] and k[2:] == new[2:] and k[1] != new[1]]:
                    self._drop(self._kept.get(old))  # the same aggregate before reports that changed it
            for new in keys:
                self._drop(self._kept.get(new))
            for new in keys:
                self._kept[new] = kept
            while self._count() > self.entries or (self._count() > 1 and self.kept_bytes() > self.max_bytes()):
                self._drop(next(iter(self._kept.values())))

    def _drop(self, kept: _Kept | None) -> None:
        """Drop a kept aggregate under every key it is kept under (under the lock)."""
        if kept is not None:
            for k in kept.keys:
                if self._kept.get(k) is kept:
                    del self._kept[k]

    def _count(self) -> int:
        return len({id(k) for k in self._kept.values()})

    def clear(self) -> None:
        self.stop()
        with self._lock:
            self._kept.clear()
            self._too_large.clear()
            self._failed.clear()

    def kept_bytes(self) -> int:
        """Memory the kept aggregates hold (their Arrow buffers and cell tables; one entry kept under
        two keys counts once)."""
        unique = {id(k): k for k in self._kept.values()}.values()
        return sum(k.table.nbytes + int(k.cells.memory_usage(deep=True).sum()) for k in unique)

    @staticmethod
    def max_bytes() -> int:
        return settings.get_int("DROPMAP_CACHE_MB") << 20

    # --- built in the background -------------------------------------------------

    def _pending(self, query: ExportQuery) -> bool:
        name = tuple(query.as_params().items())
        return name == self._building or name in self._queued

    def build_later(self, query: ExportQuery) -> bool:
        """Queue ``query`` to be built by the one background worker, without the API's time limit (it
        stops at DROPMAP_BUILD_MS), and kept as ``build`` keeps it: the hex API's answer to a first
        page that took longer than its time limit. False, and nothing queued, when the queue is full
        (``queue`` queries waiting), DROPMAP_BUILD_MS is 0, or the same query failed to build in the
        last FAILED_SECONDS; True when it is queued or being built."""
        if settings.get_int("DROPMAP_BUILD_MS") <= 0:
            return False
        name = tuple(query.as_params().items())
        with self._lock:
            if self._pending(query):
                return True
            now = monotonic()
            for old in [n for n, at in self._failed.items() if now - at >= FAILED_SECONDS]:
                del self._failed[old]
            failed = self._failed.get(name)
            if failed is not None and monotonic() - failed < FAILED_SECONDS:
                return False
            if len(self._queued) >= self.queue:
                return False
            self._queued[name] = query
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="aggregate-builder", daemon=True)
                self._worker.start()
        return True

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queued:
                    self._worker, self._building = None, None
                    return
                self._building, query = self._queued.popitem(last=False)
            try:
                self._reads.run(self._build_in_background, query, limit_ms=settings.get_int("DROPMAP_BUILD_MS"))
            except Exception:  # noqa: BLE001 -- logged; the request asked again says it cannot be built
                log.warning("an aggregate could not be built in the background", exc_info=True)
                with self._lock:
                    self._failed[self._building] = monotonic()

    def _build_in_background(self, cur: duckdb.DuckDBPyConnection, query: ExportQuery) -> None:
        self.build(cur, query, _background=True)

    def wait(self) -> None:
        """Until the background worker has built everything queued (tests, benchmarks)."""
        while True:
            with self._lock:
                worker = self._worker
            if worker is None:
                return
            worker.join()

    def stop(self) -> None:
        """Drop what is queued and stop the build under way (DuckDB's interrupt on the builder's cursor,
        repeated until the worker ends): the site's shutdown does not wait for a long build."""
        with self._lock:
            self._queued.clear()
        self._reads.stop(lambda: self._worker)


AGGREGATES = AggregateCache()


def cell_table(cells: np.ndarray) -> pd.DataFrame:
    """Per cell: its id string, CENTRE (never a report's coordinate) and area."""
    basic = h3.api.basic_int
    ids = cells.tolist()
    centres = [basic.cell_to_latlng(c) for c in ids]
    return pd.DataFrame({
        "cell": pd.array(ids, dtype="UInt64") if ids else pd.array([], dtype="UInt64"),
        "h3_cell": [basic.int_to_str(c) for c in ids],
        "center_lat": np.array([lat for lat, _ in centres], dtype=np.float64),
        "center_lon": np.array([lng for _, lng in centres], dtype=np.float64),
        "area_km2": np.array([basic.cell_area(c, "km^2") for c in ids], dtype=np.float64),
    })


@dataclass
class Preview:
    """What the Downloads page shows before a file is made."""

    period: Period | None
    rows: int
    frame: pd.DataFrame
    synthetic: bool
    k: int


def preview(cur: duckdb.DuckDBPyConnection, query: ExportQuery, *, rows: int = 100,
            today: date | None = None) -> Preview:
    """The first ``rows`` rows of an export, its row count and period (the aggregate is kept in
    AGGREGATES for the file and the hex API's pages of the same query)."""
    agg = AGGREGATES.build(cur, query, today=today)
    return Preview(period=agg.period, rows=agg.rows, frame=agg.frame(limit=rows), synthetic=agg.has_synthetic(),
                   k=agg.k)
