"""Failure rates along the subway lines 1-9: per station, per host network, at rush hour or all day.

- Stations and their order: data/subway_line_order.csv (built by geo/_build_line_order.py).
- A station's reports: those whose res-10 H3 cell has its centre within ``RADIUS_M`` of the
  station (``station_cells``). A report made with the report page's station picker carries the
  station's own point, so it is always counted there.
- Rate: failures / (failures + 'all good' samples), shrunk exactly as on the map (geo.stats:
  a beta prior fitted per network over every station, posterior mean and 95 % interval).
- Windows (``WINDOWS``): unions of three disjoint parts of the week (store.stations_sql.PARTS).
  A figure needs k distinct reporters; a station x network whose parts are not each empty or
  >= k shows its all-day figure only, so no part below k can be had by subtracting windows.
- Worst stretches: runs of at least ``MIN_STRETCH`` adjacent stations whose interval lies above
  the line's median (``worst_stretches``).
"""

from __future__ import annotations

import csv
import math
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache

import h3
import numpy as np
import pandas as pd

from core import settings
from core.errors import InputError
from core.settings import DATA_DIR
from core.vocab import NETWORKS, host_network
from geo import stats
from geo.places import stations as all_stations
from geo.privacy import min_reporters
from store import aggregate_sql, stations_sql
from store.db import cursor

LINE_ORDER_FILE = DATA_DIR / "subway_line_order.csv"
LINES: tuple[str, ...] = tuple(str(n) for n in range(1, 10))
RADIUS_M = 300.0  # a station's platforms, concourse and exits
CELL_RES = 10  # ~66 m edge: the disc of cells whose centre lies within RADIUS_M is off by at most ~70 m
MIN_STRETCH = 2  # stations in a row before a run is called a stretch
QUERY_SECONDS = 20.0  # the one query behind the view is interrupted after this long

# window -> (Korean, English, parts of the week it joins). 'all' is the whole week.
WINDOWS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "all": ("하루 전체", "all day", ("am", "pm", "rest")),
    "rush": ("출퇴근 시간 (평일 7–9시, 18–20시)", "rush hours (weekdays 7-9 h, 18-20 h)", ("am", "pm")),
    "7-9": ("평일 아침 7–9시", "weekday mornings 7-9 h", ("am",)),
    "18-20": ("평일 저녁 18–20시", "weekday evenings 18-20 h", ("pm",)),
    "rest": ("출퇴근 시간 외", "outside rush hours", ("rest",)),
}
_HOURS_ALIASES = {"": "all", "all": "all", "0-23": "all", "rush": "rush", "rest": "rest", "7-9": "7-9",
                  "07-09": "7-9", "18-20": "18-20"}
HOURS_HELP = ("use all, rush (weekdays 7-9 and 18-20 h), 7-9, 18-20 or rest; other hours are not offered, "
              "so that no figure below k reporters can be had by subtracting one window from another")
_COUNTED_AS = {"7-9": "am", "18-20": "pm"}  # window -> its name in store.stations_sql's counts
OUTPUT_COLUMNS = ("station", "order", "network", "failure_rate", "rate_low", "rate_high", "reporters")


@dataclass(frozen=True)
class LineStation:
    line: str
    order: int
    station: str
    station_en: str
    branch: str  # '' on the trunk
    after: str  # the station before this one on the track ('' at a terminus)


@lru_cache(maxsize=1)
def line_order() -> dict[str, tuple[LineStation, ...]]:
    """Line -> its stations in track order (trunk, then each branch from its junction)."""
    out: dict[str, list[LineStation]] = {line: [] for line in LINES}
    with open(LINE_ORDER_FILE, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out[row["line"]].append(LineStation(row["line"], int(row["order"]), row["station"], row["station_en"],
                                                row["branch"], row["after"]))
    return {line: tuple(sorted(rows, key=lambda s: s.order)) for line, rows in out.items()}


def parse_line(raw: object) -> str:
    text = str(raw if raw is not None else "").strip().lower().removesuffix("호선").removeprefix("line").strip()
    if text.isdigit() and str(int(text)) in LINES:
        return str(int(text))
    raise InputError("line", raw, "unknown line: use a line from 1 to 9 (서울 지하철 1~9호선)")


def parse_hours(raw: object) -> str:
    text = str(raw if raw is not None else "").strip().lower().replace("~", "-").replace(" ", "")
    if text in _HOURS_ALIASES:
        return _HOURS_ALIASES[text]
    raise InputError("hours", raw, HOURS_HELP)


def parse_carrier(raw: object) -> str | None:
    text = str(raw if raw is not None else "").strip()
    if text.lower() in ("", "all"):
        return None
    return host_network(text)


# --- station discs -------------------------------------------------------------


def _metres(lat0: float, lon0: float, lat1: np.ndarray, lon1: np.ndarray) -> np.ndarray:
    la0, lo0, la1, lo1 = (np.radians(v) for v in (lat0, lon0, lat1, lon1))
    a = np.sin((la1 - la0) / 2) ** 2 + np.cos(la0) * np.cos(la1) * np.sin((lo1 - lo0) / 2) ** 2
    return 2 * 6_371_000 * np.arcsin(np.sqrt(a))


@lru_cache(maxsize=1)
def station_cells() -> pd.DataFrame:
    """(sid, station, cell): the res-10 cells whose centre lies within RADIUS_M of each station.

    One disc per station name (transfer stations count once, at geo.places' point), so a
    station shows the same figure on every line it serves.
    """
    basic = h3.api.basic_int
    ring = math.ceil(RADIUS_M / (math.sqrt(3) * basic.average_hexagon_edge_length(CELL_RES, "m"))) + 1
    rows = []
    for sid, s in enumerate(all_stations()):
        cells = basic.grid_disk(basic.latlng_to_cell(s.lat, s.lon, CELL_RES), ring)
        centres = np.array([basic.cell_to_latlng(c) for c in cells])
        near = _metres(s.lat, s.lon, centres[:, 0], centres[:, 1]) <= RADIUS_M
        rows += [(sid, s.name, c) for c, keep in zip(cells, near, strict=True) if keep]
    frame = pd.DataFrame(rows, columns=["sid", "station", "cell"])
    frame["sid"] = frame["sid"].astype("int32")
    frame["cell"] = frame["cell"].astype("uint64")
    return frame


# --- counts, cached per data version ------------------------------------------------


@dataclass
class _Entry:
    counts: pd.DataFrame
    made: float  # time.monotonic() when counted
    estimates: dict = field(default_factory=dict)  # (window, k) -> network_estimates(...)
    views: dict = field(default_factory=dict)  # (line, carrier, window, k) -> LineView


class _CountsCache:
    """The counts of every station and window, kept per store: one scan serves every line, carrier
    and window. An entry is used as it is while the store's data version (aggregate_sql.data_version)
    is unchanged or for DROPMAP_CACHE_SECONDS after it was counted. Once it is older and reports have
    arrived, it is still answered from while one background scan counts afresh (stale while
    revalidating): a new report shows within DROPMAP_CACHE_SECONDS plus one scan, and only the first
    request a store ever gets waits for a scan."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[tuple, _Entry]] = {}
        self._refreshing: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def entry(self, cur) -> _Entry:
        store, *version = aggregate_sql.data_version(cur)
        version = (*version, stations_sql.SOURCE)
        with self._lock:
            kept = self._kept.get(store)
            if kept is not None:
                fresh = time.monotonic() - kept[1].made < settings.get_int("DROPMAP_CACHE_SECONDS")
                if kept[0] == version or fresh:
                    return kept[1]
                if store and store not in self._refreshing:  # a file: the scan gets its own cursor on it
                    thread = threading.Thread(target=self._refresh, args=(store, version),
                                              name="stations-refresh", daemon=True)
                    self._refreshing[store] = thread
                    thread.start()
                if store:
                    return kept[1]
        return self._count(cur, store, version)

    def _count(self, cur, store: str, version: tuple) -> _Entry:
        counts = stations_sql.station_counts(cur, station_cells()[["sid", "cell"]], seconds=QUERY_SECONDS)
        made = _Entry(counts, time.monotonic())
        with self._lock:
            self._kept[store] = (version, made)
        return made

    def _refresh(self, store: str, version: tuple) -> None:
        from store.db import shared_connection

        try:
            with cursor(shared_connection(store)) as cur:
                self._count(cur, store, version)
        except Exception:  # noqa: BLE001, S110 -- a failed refresh keeps the older counts; the next request retries
            pass
        finally:
            with self._lock:
                self._refreshing.pop(store, None)

    def wait(self) -> None:
        """Until the background scans under way have finished (tests, benchmarks)."""
        with self._lock:
            threads = list(self._refreshing.values())
        for thread in threads:
            thread.join()

    def clear(self) -> None:
        self.wait()
        with self._lock:
            self._kept.clear()


COUNTS = _CountsCache()


def warm_counts(store: str) -> threading.Thread:
    """Count every station once in the background (the site does this when it starts), so the first
    visitor of /subway or GET /api/v1/stations is answered from the kept counts instead of waiting for
    the scan (about 10 s on 10 M reports, docs/BENCHMARKS.md). A failure is left for the first request."""

    def count() -> None:
        from store.db import shared_connection

        try:
            with cursor(shared_connection(store)) as cur:
                COUNTS.entry(cur)
        except Exception:  # noqa: BLE001, S110 -- the first request counts again and shows any error
            pass

    thread = threading.Thread(target=count, name="stations-warm", daemon=True)
    thread.start()
    return thread


def _publishable(counts: pd.DataFrame, window: str, k: int) -> pd.DataFrame:
    """Per (sid, network): the window's counts and whether they may be shown."""
    wide = counts[counts["window"] == _COUNTED_AS.get(window, window)].set_index(["sid", "network"])
    parts = counts[counts["window"].isin(["am", "pm", "rest"])]
    bad = parts[(parts["reporters"] > 0) & (parts["reporters"] < k)]
    risky = set(zip(bad["sid"], bad["network"], strict=True))
    shown = wide["reporters"] >= k
    if window != "all":
        shown &= np.array([key not in risky for key in wide.index], dtype=bool)
    wide["shown"] = shown
    return wide.reset_index()


def network_estimates(counts: pd.DataFrame, window: str, k: int) -> pd.DataFrame:
    """Per (sid, network): shrunk rate and 95 % interval (NaN where hidden), reporters (-1 where hidden)."""
    wide = _publishable(counts, window, k)
    parts = []
    for network in NETWORKS:
        group = wide[wide["network"] == network].reset_index(drop=True)
        if group.empty:
            continue
        # As on the map: the prior from every station of the network (hidden ones too: it is two numbers).
        prior = stats.fit_beta_prior(group["failures"], group["reports"])
        est = stats.shrink_rates(group["failures"], group["reports"], prior)
        rated = group["shown"] & (group["samples"] > 0)  # a rate needs 'all good' samples as attempts
        group["failure_rate"] = np.where(rated, est.mean, np.nan)
        group["rate_low"] = np.where(rated, est.low, np.nan)
        group["rate_high"] = np.where(rated, est.high, np.nan)
        group["reporters"] = np.where(group["shown"], group["reporters"], -1)
        parts.append(group)
    columns = ["sid", "network", "failure_rate", "rate_low", "rate_high", "reporters"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


# --- one line ----------------------------------------------------------------------


@dataclass
class Stretch:
    network: str
    stations: tuple[str, ...]
    orders: tuple[int, ...]
    mean_rate: float


@dataclass
class LineView:
    line: str
    window: str
    carrier: str | None
    k: int
    frame: pd.DataFrame  # one row per station x network, in line order (OUTPUT_COLUMNS + station_en, branch)
    stretches: list[Stretch] = field(default_factory=list)
    medians: dict[str, float] = field(default_factory=dict)

    def records(self) -> list[dict]:
        """JSON-ready rows: hidden figures are None."""
        out = []
        for row in self.frame[list(OUTPUT_COLUMNS)].itertuples(index=False):
            rec = dict(zip(OUTPUT_COLUMNS, row, strict=True))
            for name in ("failure_rate", "rate_low", "rate_high"):
                rec[name] = None if pd.isna(rec[name]) else round(float(rec[name]), 5)
            rec["reporters"] = None if pd.isna(rec["reporters"]) or rec["reporters"] < 0 else int(rec["reporters"])
            rec["order"] = int(rec["order"])
            out.append(rec)
        return out


def line_view(cur, line: str, *, carrier: str | None = None, window: str = "all") -> LineView:
    """Every station of ``line`` in order, once per network (or for ``carrier``), with the window's figures.

    Kept with the counts it comes from: callers must not change it."""
    line, window = parse_line(line), parse_hours(window)
    k = min_reporters()
    entry = COUNTS.entry(cur)
    key = (line, carrier, window, k)
    if key not in entry.views:
        if (window, k) not in entry.estimates:
            entry.estimates[(window, k)] = network_estimates(entry.counts, window, k)
        entry.views[key] = assemble(line, window, carrier, k, entry.estimates[(window, k)])
    return entry.views[key]


def assemble(line: str, window: str, carrier: str | None, k: int, estimates: pd.DataFrame) -> LineView:
    sid_of = {s.name: sid for sid, s in enumerate(all_stations())}
    networks = (carrier,) if carrier else NETWORKS
    base = pd.DataFrame([{"station": s.station, "station_en": s.station_en, "order": s.order, "branch": s.branch,
                          "after": s.after, "sid": sid_of[s.station], "network": n}
                         for s in line_order()[line] for n in networks])
    frame = base.merge(estimates, on=["sid", "network"], how="left")
    frame["reporters"] = frame["reporters"].fillna(-1).astype("int64")
    frame = frame.sort_values(["order", "network"], key=lambda c: c.map(_network_rank) if c.name == "network" else c)
    frame = frame.reset_index(drop=True)
    stretches, medians = worst_stretches(frame)
    return LineView(line, window, carrier, k, frame, stretches, medians)


def _network_rank(network: str) -> int:
    return NETWORKS.index(network) if network in NETWORKS else len(NETWORKS)


def worst_stretches(frame: pd.DataFrame) -> tuple[list[Stretch], dict[str, float]]:
    """Per network: runs of >= MIN_STRETCH adjacent stations whose rate_low is above the line's median rate.

    Adjacent means one follows the other on the track (the ``after`` column: branches start at their
    junction, line 2's loop closes). Stretches are sorted worst first by their mean rate.
    """
    out: list[Stretch] = []
    medians: dict[str, float] = {}
    for network, group in frame.groupby("network", sort=False):
        rated = group.dropna(subset=["failure_rate"])
        if len(rated) < 3:
            continue
        median = float(rated["failure_rate"].median())
        medians[network] = median
        above = {r.station: r for r in rated.itertuples() if r.rate_low > median}
        nxt: dict[str, list[str]] = {}
        for r in group.itertuples():
            if r.after:
                nxt.setdefault(r.after, []).append(r.station)
        starts = [s for s in above if above[s].after not in above]
        seen: set[str] = set()

        def walk(run: list[str], network=network, above=above, nxt=nxt, seen=seen) -> None:
            follow = [s for s in nxt.get(run[-1], []) if s in above and s not in run]
            for station in follow:  # at a junction, the trunk and each branch go on from it
                walk([*run, station])
            if not follow:
                seen.update(run)
                if len(run) >= MIN_STRETCH:
                    out.append(Stretch(network, tuple(run), tuple(int(above[s].order) for s in run),
                                       float(np.mean([above[s].failure_rate for s in run]))))

        for start in starts:
            walk([start])
        rest = [s for s in above if s not in seen]  # a loop entirely above the median
        if len(rest) >= MIN_STRETCH:
            out.append(Stretch(network, tuple(rest), tuple(int(above[s].order) for s in rest),
                               float(np.mean([above[s].failure_rate for s in rest]))))
    out.sort(key=lambda s: -s.mean_rate)
    return out, medians
