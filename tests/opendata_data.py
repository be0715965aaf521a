"""Small report sets for the open-data tests, stored through the real loader.

``known_rows()`` is a hand-made set with pinned answers (see the comments);
``random_rows()`` is a seeded crowd for round trips, the API and the page.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from ingest.loader import Origin, load_frame
from store.db import connect

# Seoul City Hall and a point about 800 m east: different res-8 cells, the same res-7 cell.
CITY_HALL = (37.5665, 126.9780)
EAST = (37.5696, 126.9870)
CITY_HALL_R8 = "8830e1d8c1fffff"
NOW = datetime.fromisoformat("2021-11-10T12:00:00+09:00")


def _rows(lat_lon, carrier, kind, when, codes, repeat=1):
    """One row per code (``repeat`` rows a minute apart: identical rows would be duplicates)."""
    lat, lon = lat_lon
    start = pd.Timestamp(when)
    return [{"lat": lat, "lon": lon, "carrier": carrier, "kind": kind,
             "observed_at": (start + pd.Timedelta(minutes=i)).isoformat(), "reporter_code": code}
            for code in codes for i in range(repeat)]


def known_rows() -> pd.DataFrame:
    """Groups with known answers at k=5, all in the week Mon 2021-10-18 .. Sun 2021-10-24 (Seoul)."""
    rows = []
    # A: KT at 14h: 6 people drop a call, 2 others lose data, 5 others say 'all good' twice.
    #    all_failures 8 reports / 8 reporters, ok 10 -> rate 8/18. The no_data residual has
    #    2 reporters, so no per-kind row may be shown for this group.
    rows += _rows(CITY_HALL, "KT", "dropped_call", "2021-10-19T14:10:00+09:00", [f"A{i}" for i in range(6)])
    rows += _rows(CITY_HALL, "KT", "no_data", "2021-10-20T14:20:00+09:00", ["AN0", "AN1"])
    rows += _rows(CITY_HALL, "KT", "ok", "2021-10-21T14:30:00+09:00", [f"AO{i}" for i in range(5)], repeat=2)
    # B: SKT at 9h: 6 people drop calls (one of them twice), 5 others lose data; no samples.
    #    Both kinds are shown (residual 0); no rate (no 'all good' samples).
    rows += _rows(CITY_HALL, "SKT", "dropped_call", "2021-10-18T09:05:00+09:00", [f"B{i}" for i in range(6)])
    rows += _rows(CITY_HALL, "SKT", "dropped_call", "2021-10-22T09:15:00+09:00", ["B0"])
    rows += _rows(CITY_HALL, "SKT", "no_data", "2021-10-19T09:45:00+09:00", [f"BN{i}" for i in range(5)])
    # C: LGU+ at 20h: 3 failure reporters (suppressed) but 6 'all good' reporters (shown).
    rows += _rows(CITY_HALL, "LGU+", "no_service", "2021-10-23T20:00:00+09:00", ["C0", "C1", "C2"])
    rows += _rows(CITY_HALL, "LGU+", "ok", "2021-10-24T20:30:00+09:00", [f"CO{i}" for i in range(6)], repeat=2)
    # D: KT at 3h in another cell: 4 reporters only -> nothing at all.
    rows += _rows(EAST, "KT", "dropped_call", "2021-10-20T03:00:00+09:00", [f"D{i}" for i in range(4)])
    # E: SKT at 9h in the east cell: 6 drop calls; sms from 2 and other from 3 other people:
    #    residual 5 reporters >= k, so dropped_call is shown beside all_failures.
    rows += _rows(EAST, "SKT", "dropped_call", "2021-10-21T09:00:00+09:00", [f"E{i}" for i in range(6)])
    rows += _rows(EAST, "SKT", "sms_failure", "2021-10-21T09:10:00+09:00", ["ES0", "ES1"])
    rows += _rows(EAST, "SKT", "other", "2021-10-21T09:20:00+09:00", ["EO0", "EO1", "EO2"])
    frame = pd.DataFrame(rows)
    frame["note"] = "=HYPERLINK(\"http://evil.example\")"  # private: must never be exported
    frame["device_model"] = "@SUM(1+1)"
    return frame


def random_rows(seed: int = 1, n: int = 4000, reporters: int = 40, days: int = 14,
                start: str = "2021-10-11") -> pd.DataFrame:
    """A seeded crowd around City Hall over ``days`` days from ``start`` (a Monday)."""
    rng = np.random.default_rng(seed)
    day0 = pd.Timestamp(start, tz="Asia/Seoul")
    offsets = pd.to_timedelta(rng.integers(0, days * 24 * 60, n), unit="min")
    return pd.DataFrame({
        "lat": CITY_HALL[0] + rng.normal(0, 0.006, n),
        "lon": CITY_HALL[1] + rng.normal(0, 0.006, n),
        "carrier": rng.choice(["SKT", "KT", "LGU+", "KT M모바일"], n),
        "kind": rng.choice(["dropped_call", "no_data", "slow_data", "ok", "ok", "ok"], n),
        "observed_at": (day0 + offsets).strftime("%Y-%m-%dT%H:%M:%S%z"),
        "reporter_code": [f"R{i}" for i in rng.integers(0, reporters, n)],
    })


def load(con, frame: pd.DataFrame, *, source: str = "test") -> int:
    """Store ``frame`` through the real loader; returns the rows accepted."""
    result = load_frame(con, frame, Origin(source=source), now=NOW)
    assert result.rejected == 0, result.errors[:3]
    return result.accepted


def build_store(path, *, seed: int, n: int, reporters: int, source: str = "test"):
    """A store file with ``known_rows()`` and a seeded crowd (``source`` for the crowd); returns ``path``."""
    con = connect(path)
    try:
        load(con, known_rows())
        load(con, random_rows(seed=seed, n=n, reporters=reporters), source=source)
    finally:
        con.close()
    return path
