"""A synthetic Seoul: reports, 'all good' samples, known weak zones and the KT outage of 2021-10-25.

Everything here is made up (source='demo') and labelled synthetic wherever it
is shown. It exists so the site has something realistic to show and so the
map's honesty can be measured against a known truth (table demo_truth).
See docs/DEMO.md for what is modelled and why.

Raw rows go through ``ingest.loader.load_frame``, the same validation path as
every upload. The same seed gives the same reports (apart from report_id,
batch_id and received_at, which the store assigns).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from core.cells import latlngs_to_cells
from ingest.demo_city import district_indices, keep_within, near_stations, places, scatter
from ingest.demo_people import (
    SEOUL,
    Reporters,
    attempt_times,
    carriers_of,
    local_hours,
    make_reporters,
    period,
    pick,
    techs,
)
from ingest.demo_personas import MAX_RATE, PERSONA, PERSONAS, add_personas, persona_places, phone_factors
from ingest.demo_truth import Truth, mean_rate, multiplier_ranges, persona_rows, true_failure_rates
from ingest.loader import LoadResult, Origin, load_frame
from store import demo_sql

KT_OUTAGE_START = datetime(2021, 10, 25, 11, 16, tzinfo=SEOUL)
KT_OUTAGE_END = datetime(2021, 10, 25, 12, 45, tzinfo=SEOUL)

# Failure kinds of ordinary traffic, and of the 2021 KT outage (internet and calls down).
ORDINARY_KINDS = {"dropped_call": 0.27, "call_setup_failure": 0.13, "no_service": 0.13, "no_data": 0.15,
                  "slow_data": 0.22, "sms_failure": 0.06, "other": 0.04}
OUTAGE_KINDS = {"no_data": 0.45, "no_service": 0.20, "call_setup_failure": 0.20, "slow_data": 0.05,
                "dropped_call": 0.05, "sms_failure": 0.05}

RAW_COLUMNS = ("lat", "lon", "carrier", "kind", "observed_at", "tech", "device_model", "reporter_code",
               "accuracy_m")
FAILURES_PER_REPORTER = 4  # ordinary traffic: one reporter per this many failure reports
OUTAGE_SHARE = 0.03  # outage reports, as a share of ordinary failure reports (at least 200)
FAILURES_SPARE = 50  # drawn beyond the target, so dropping same-second repeats cannot fall short
LOAD_CHUNK_ROWS = 250_000  # rows per stored batch (bounds memory during validation)


@dataclass(frozen=True)
class DemoOptions:
    reports: int = 100_000  # failure reports of ordinary traffic ('all good' samples come on top)
    days: int = 35
    seed: int = 20211025
    end: datetime = field(default=datetime(2021, 11, 1, 0, 0, tzinfo=SEOUL))  # exclusive
    kt_outage: bool = True
    weak: str = "mixed"  # kind of weak places: clustered | isolated | mixed (ingest/demo_truth.py)
    subtle: bool = False  # weak places only 1.5x-3x the base rate instead of 3x-8x


def _raw_frame(lat, lon, carrier, kind, times, tech, device, code, rng) -> pd.DataFrame:
    """Field-named raw columns, as an upload would carry them (times as ISO 8601 UTC, '...Z')."""
    accuracy = np.round(np.clip(rng.lognormal(np.log(12.0), 0.8, len(lat)), 3.0, 2000.0), 1)
    return pd.DataFrame({
        "lat": np.round(lat, 6), "lon": np.round(lon, 6), "carrier": carrier, "kind": kind,
        "observed_at": np.datetime_as_string(times, unit="s", timezone="UTC"), "tech": tech,
        "device_model": device, "reporter_code": code, "accuracy_m": accuracy,
    }, columns=list(RAW_COLUMNS))


def _location_modes(hours: np.ndarray, weekday: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Where each attempt happens: 0 home, 1 work, 2 at a station, 3 anywhere in the city."""
    commute = weekday & np.isin(hours, (7, 8, 18, 19))
    office = weekday & (hours >= 9) & (hours <= 17)
    probs = np.where(commute[:, None], [0.20, 0.20, 0.50, 0.10],
                     np.where(office[:, None], [0.15, 0.55, 0.10, 0.20], [0.55, 0.05, 0.15, 0.25]))
    u = rng.random(len(hours))[:, None]
    return (u > np.cumsum(probs, axis=1)).sum(axis=1)


def _attempt_places(mode: np.ndarray, who: np.ndarray, people: Reporters,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    lat = np.empty(len(mode))
    lon = np.empty(len(mode))
    for m, (lat0, lon0) in ((0, (people.home_lat, people.home_lon)), (1, (people.work_lat, people.work_lon))):
        sel = mode == m
        lat[sel], lon[sel] = scatter(lat0[who[sel]], lon0[who[sel]], 300.0, rng)
    sel = mode == 2
    lat[sel], lon[sel] = near_stations(int(sel.sum()), rng)
    sel = mode == 3
    lat[sel], lon[sel] = places(int(sel.sum()), rng, station_share=0.5)
    persona_places(mode, who, lat, lon, rng)
    return np.round(lat, 6), np.round(lon, 6)


def _attempts(size: int, people: Reporters, truth: Truth, start: datetime, days: int,
              rng: np.random.Generator, factors: np.ndarray) -> pd.DataFrame:
    """``size`` attempts; each fails with the true rate of its network in its res-8 hex, times the
    phone's factor (``factors`` per reporter; 1 on average over all attempts)."""
    who = rng.choice(len(people.code), size, p=people.activity)
    times = attempt_times(size, start, days, rng)
    hours, weekday = local_hours(times)
    lat, lon = _attempt_places(_location_modes(hours, weekday, rng), who, people, rng)
    rates = truth.rates_of(people.network[who], latlngs_to_cells(lat, lon, 8)) * factors[who]
    failed = rng.random(size) < np.minimum(rates, MAX_RATE)
    kind = np.where(failed, pick(rng, ORDINARY_KINDS, size), "ok").astype(object)
    for i, persona in enumerate(PERSONAS):  # their failures are of the kinds their story tells
        hit = (who == i) & failed
        kind[hit] = pick(rng, dict(persona.kinds), int(hit.sum()))
    frame = _raw_frame(lat, lon, people.carrier[who], kind, times, techs(people.has_5g[who], rng),
                       people.device[who], people.code[who], rng)
    frame["_t"] = times
    return frame


def ordinary_traffic(options: DemoOptions, rng: np.random.Generator) -> pd.DataFrame:
    """Everyday reports: exactly ``options.reports`` failures plus the 'all good' samples around them.

    Attempts are drawn at random (people, times, places); each one's outcome is
    a coin with the true failure rate of its network and res-8 hex. Sampling
    stops at the attempt that brings the ``options.reports``-th failure, so
    failures / (failures + samples) in a hex is an unbiased estimate of its rate.
    Rows come sorted by time.
    """
    truth = true_failure_rates(options.seed, options.weak, options.subtle)
    start, _ = period(options.end, options.days)
    if options.reports <= 0 or options.days <= 0:
        return pd.DataFrame(columns=list(RAW_COLUMNS))
    people = make_reporters(max(40, options.reports // FAILURES_PER_REPORTER), rng)
    add_personas(people, options.reports / mean_rate(truth), options.days)
    factors = phone_factors(people)
    chunks: list[pd.DataFrame] = []
    failures = 0
    while failures < options.reports + FAILURES_SPARE:
        size = int((options.reports + FAILURES_SPARE - failures) / mean_rate(truth) * 1.1) + 500
        chunk = _attempts(size, people, truth, start, options.days, rng, factors)
        chunks.append(chunk)
        failures += int((chunk["kind"] != "ok").sum())
    frame = pd.concat(chunks, ignore_index=True)
    # One person sends one report a second at most (and the store would drop a repeat).
    frame = frame[~frame.duplicated(["reporter_code", "observed_at"])].reset_index(drop=True)
    last = np.flatnonzero(frame["kind"].to_numpy() != "ok")[options.reports - 1]
    frame = frame.iloc[: last + 1].sort_values("_t", kind="stable")
    return frame.drop(columns="_t").reset_index(drop=True)


def _surge_times(n: int, start: datetime, end: datetime, rng: np.random.Generator) -> np.ndarray:
    """Report times that rise within minutes after ``start`` and fade within ~20 min after ``end``."""
    rise, fade = 180.0, 300.0  # seconds: people notice fast; recovery is noticed more slowly
    length = (end - start).total_seconds()
    t = np.arange(0.0, length + 4 * fade)
    intensity = np.where(t <= length, 1.0 - np.exp(-t / rise),
                         (1.0 - np.exp(-length / rise)) * np.exp(-(t - length) / fade))
    cdf = np.cumsum(intensity)
    offsets = np.searchsorted(cdf, rng.random(n) * cdf[-1])
    base = np.datetime64(int(start.timestamp()), "s")
    return np.sort(base + offsets.astype("timedelta64[s]"))


def surge(*, network: str, start: datetime, end: datetime, reports: int, reporters: int,
          districts: Sequence[str] | None = None, rng: np.random.Generator,
          kinds: dict[str, float] | None = None) -> pd.DataFrame:
    """Failure reports of an outage of ``network`` (its own brand and its MVNOs) from ``start`` to ``end``.

    ``reporters`` distinct people (at most ``reports``) each send at least one
    report; places follow population and stations in ``districts`` (Korean gu
    names; None for the whole city). Returns a raw frame sorted by time.
    """
    reporters = max(1, min(reporters, reports))
    if reports <= 0:
        return pd.DataFrame(columns=list(RAW_COLUMNS))
    gu = None if districts is None else district_indices(list(districts))
    people = make_reporters(reporters, rng, carriers=carriers_of(network), gu_allowed=gu)
    # Everyone reports once; the remaining reports come from the more active people.
    extra = rng.choice(reporters, reports - reporters, p=people.activity)
    who = rng.permutation(np.concatenate([np.arange(reporters), extra]))
    times = _surge_times(reports, start, end, rng)
    near_home = rng.random(reports) < 0.6
    lat, lon = places(reports, rng, station_share=0.5, gu_allowed=gu)
    home_lat, home_lon = scatter(people.home_lat[who], people.home_lon[who], 300.0, rng)
    lat, lon = np.where(near_home, home_lat, lat), np.where(near_home, home_lon, lon)
    if gu is not None:  # scattering can cross a district border: keep the surge where it was asked
        lat, lon = keep_within(lat, lon, gu, rng)
    kind = pick(rng, kinds or OUTAGE_KINDS, reports)
    return _raw_frame(lat, lon, people.carrier[who], kind, times, techs(people.has_5g[who], rng),
                      people.device[who], people.code[who], rng)


def load_raw(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, *, source: str = "demo",
             label: str | None = None) -> LoadResult:
    """Store a raw frame as one batch through the one validation path (``load_frame``)."""
    return load_frame(con, frame, Origin(source=source, file_name=label, fmt="demo"))


def outage_replay(options: DemoOptions, rng: np.random.Generator) -> pd.DataFrame | None:
    """The KT outage of 2021-10-25 (city-wide surge), or None when off or outside the period."""
    start, end = period(options.end, options.days)
    if not options.kt_outage or not (start <= KT_OUTAGE_START and KT_OUTAGE_END <= end):
        return None
    reports = max(200, round(options.reports * OUTAGE_SHARE))
    return surge(network="KT", start=KT_OUTAGE_START, end=KT_OUTAGE_END, reports=reports,
                 reporters=round(reports * 0.8), districts=None, rng=rng)


def _failures_of(traffic: pd.DataFrame, code: str) -> int:
    return int(((traffic["reporter_code"] == code) & (traffic["kind"] != "ok")).sum())


def build_demo(con: duckdb.DuckDBPyConnection, options: DemoOptions) -> dict:
    """Replace any earlier demo data with a fresh synthetic city; returns a JSON-able summary."""
    started = time.perf_counter()
    rng = np.random.default_rng(options.seed)
    truth = true_failure_rates(options.seed, options.weak, options.subtle)
    replaced = demo_sql.clear_demo(con)
    traffic = ordinary_traffic(options, rng)
    outage = outage_replay(options, rng)
    generated = time.perf_counter()
    results = [load_raw(con, traffic.iloc[i:i + LOAD_CHUNK_ROWS], label="demo: ordinary traffic")
               for i in range(0, len(traffic), LOAD_CHUNK_ROWS)]
    if outage is not None:
        results.append(load_raw(con, outage, label="demo: KT outage 2021-10-25"))
    demo_sql.save_truth(con, truth.frame())
    demo_sql.save_weak_hexes(con, truth.weak_frame())
    demo_sql.save_personas(con, persona_rows(truth))
    counts = demo_sql.demo_counts(con)
    start, end = period(options.end, options.days)
    summary = {
        "source": "demo",
        "synthetic": True,
        "seed": options.seed,
        "period": {"start": start.isoformat(), "end": end.isoformat(), "days": options.days,
                   "timezone": "Asia/Seoul", "end_exclusive": True},
        **counts,
        "rows_loaded": sum(r.accepted for r in results),
        "replaced_demo_rows": replaced,
        "weak_hexes_per_network": {n: len(c) for n, c in truth.weak.items()},
        "weak": {"kind": options.weak, "subtle": options.subtle, "multipliers": multiplier_ranges(options.subtle),
                 "hexes_per_network": {n: dict(Counter(k.tolist())) for n, k in truth.kinds.items()}},
        "persona": {"reporter_code": PERSONA.code, "carrier": PERSONA.carrier,
                    "failures": _failures_of(traffic, PERSONA.code)},
        "personas": [{"reporter_code": p.code, "carrier": p.carrier, "device_model": p.device,
                      "expected_answer": p.answer, "failures": _failures_of(traffic, p.code),
                      "weak_zones": len(truth.zones.get(p.code, ()))} for p in PERSONAS],
        "seconds": {"generate": round(generated - started, 2),
                    "load": round(time.perf_counter() - generated, 2),
                    "total": round(time.perf_counter() - started, 2)},
    }
    if outage is not None:
        summary["kt_outage"] = {
            "start": KT_OUTAGE_START.isoformat(), "end": KT_OUTAGE_END.isoformat(),
            "surge_reports": len(outage), "surge_reporters": int(outage["reporter_code"].nunique()),
            **demo_sql.outage_counts(con, "KT", KT_OUTAGE_START, KT_OUTAGE_END + timedelta(minutes=20)),
        }
    return summary
