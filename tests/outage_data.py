"""Small hand-made report streams for the outage tests: a quiet city, a surge, a flood.

Places are subway stations (with a few metres of jitter), so every report
lands in a known district; times are Seoul time. Everything goes through
ingest.loader.load_frame like real uploads.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo.places import stations
from ingest.loader import Origin, load_frame

SEOUL = ZoneInfo("Asia/Seoul")
START = datetime(2021, 9, 27, tzinfo=SEOUL)  # a Monday


def _places(n: int, rng: np.random.Generator, districts: tuple[str, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    chosen = [s for s in stations() if s.gu and (districts is None or s.gu in districts)]
    pick = rng.integers(0, len(chosen), n)
    lat = np.array([chosen[i].lat for i in pick]) + rng.normal(0, 0.0002, n)
    lon = np.array([chosen[i].lon for i in pick]) + rng.normal(0, 0.0002, n)
    return lat, lon


def _frame(times: list[datetime], codes: list[str], carrier: str, kinds: list[str], rng,
           districts=None) -> pd.DataFrame:
    lat, lon = _places(len(times), rng, districts)
    return pd.DataFrame({
        "lat": np.round(lat, 6), "lon": np.round(lon, 6), "carrier": carrier, "kind": kinds,
        "observed_at": [t.isoformat() for t in times], "reporter_code": codes,
    })


def quiet_city(*, days: int = 28, per_hour: float = 12.0, carrier: str = "KT", seed: int = 1,
               start: datetime = START) -> pd.DataFrame:
    """Ordinary failure reports: busier by day than by night, from a pool of everyday reporters."""
    rng = np.random.default_rng(seed)
    profile = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 1.6, 1.0, 0.8, 0.8,
                        0.9, 0.8, 0.7, 0.7, 0.8, 1.0, 1.5, 1.3, 0.9, 0.8, 0.6, 0.4])
    rates = np.tile(profile / profile.mean() * per_hour, days)
    counts = rng.poisson(rates)
    times = []
    for hour, n in enumerate(counts):
        base = start + timedelta(hours=int(hour))
        times.extend(base + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 3600, n)))
    pool = [f"USUAL-{i:05d}" for i in range(max(50, int(per_hour * 40)))]
    codes = [pool[i] for i in rng.integers(0, len(pool), len(times))]
    kinds = list(rng.choice(["dropped_call", "no_data", "slow_data", "no_service"], len(times)))
    return _frame(times, codes, carrier, kinds, rng)


def surge(start: datetime, minutes: int, *, reporters: int, carrier: str = "KT", seed: int = 2,
          districts: tuple[str, ...] | None = None, prefix: str = "SURGE") -> pd.DataFrame:
    """One report each from ``reporters`` people, spread evenly over ``minutes`` from ``start``."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.uniform(0, minutes * 60, reporters))
    times = [start + timedelta(seconds=float(s)) for s in offsets]
    codes = [f"{prefix}-{i:05d}" for i in range(reporters)]
    kinds = list(rng.choice(["no_data", "no_service", "call_setup_failure"], reporters))
    return _frame(times, codes, carrier, kinds, rng, districts)


def flood(start: datetime, *, reporters: int = 5, each: int = 100, minutes: int = 20, carrier: str = "KT",
          seed: int = 4) -> pd.DataFrame:
    """A fake campaign: a handful of people sending many reports within minutes."""
    rng = np.random.default_rng(seed)
    n = reporters * each
    times = [start + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, minutes * 60, n))]
    codes = [f"FLOOD-{i % reporters}" for i in range(n)]
    return _frame(times, codes, carrier, ["no_service"] * n, rng)


def load(con, *frames: pd.DataFrame, source: str = "web") -> None:
    for frame in frames:
        load_frame(con, frame, Origin(source=source, file_name="test"), now=datetime(2021, 12, 1, tzinfo=SEOUL))


def quiet_db_file(tmp_path_factory, name: str, *frames: pd.DataFrame) -> Path:
    """A database file holding ``frames`` (quiet weeks), built once per module fixture and copied per test."""
    from store.db import connect

    path = tmp_path_factory.mktemp(name) / "quiet.duckdb"
    con = connect(path)
    try:
        load(con, *frames)
    finally:
        con.close()
    return path


def private_copy(db_file: Path, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of ``db_file`` for one test, set as DROPMAP_DB."""
    path = tmp_path / "city.duckdb"
    shutil.copy(db_file, path)
    monkeypatch.setenv("DROPMAP_DB", str(path))
    return path


OUTAGE = datetime(2021, 10, 20, 11, 16, tzinfo=SEOUL)  # a Wednesday: the 2021 KT outage's minute


def ongoing_outage(con):
    """Three quiet weeks of KT, then a surge at OUTAGE, scanned by the detector while the surge is on."""
    from outages.scan import scan

    load(con, quiet_city(days=21, start=OUTAGE.replace(hour=0, minute=0) - timedelta(days=21)),
         surge(OUTAGE, 60, reporters=300))
    scan(con, OUTAGE + timedelta(minutes=20))
    return con
