"""Validation of raw report rows: the one path every input takes.

Files, web forms, API requests and the demo generator all end up as table
``raw`` (a record number and one text column per field; see store.ingest_sql) and go
through ``check_raw``. It builds table ``checked`` -- the normalised values and
which rules each row breaks -- and returns one problem per bad (row, field), so
a file with bad rows still loads its good ones. The rules are listed in
docs/INPUT.md; the work is vectorised in DuckDB, and only the distinct carrier,
kind, technology and reporter-code spellings go through Python.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import duckdb
import numpy as np
import pandas as pd

from core import vocab
from core.city import City, load_city
from core.errors import InputError
from ingest.fields import FIELDS, MAX_LENGTHS
from store import ingest_sql
from store.filters import STATUSES
from store.ingest_sql import Check

MAX_ERRORS = 1000  # errors (and warnings) listed in full; the rest are only counted
_VALUE_SHOWN = 80  # characters of a bad value echoed back
MAX_ACCURACY_M = 10_000

OUTPUT_COLUMNS = (
    "row", "observed_at", "lat", "lon", "accuracy_m", "network", "brand", "mvno", "tech", "kind",
    "device_model", "note", "reporter_code",
)


@dataclass
class Problems:
    """Errors (the row is rejected) and warnings (the row was kept, changed)."""

    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0
    rows: int = 0  # rows checked


def _shown(value) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= _VALUE_SHOWN else text[:_VALUE_SHOWN] + "…"


# --- the rules ------------------------------------------------------------------------------

_EXAMPLE_TIME = "e.g. 2021-10-25T11:16:00+09:00 or 2021-10-25 11:16 (no offset means Seoul time)"


def _required(name: str, present: set[str], how: str) -> str:
    if name in present:
        return f"required: {how}"
    return f"column missing; add a '{name}' column ({how}; accepted names in docs/INPUT.md)"


def _checks(present: set[str], city: City) -> tuple[list[Check], dict[str, object]]:
    """The rules, in the order problems of one row are listed, and the messages they bind."""
    region = city.region
    area = (f"outside the area covered ({region.name}: lat {region.lat_min}–{region.lat_max}, "
            f"lon {region.lon_min}–{region.lon_max}); check the sign and the order")
    inside = "(lat BETWEEN $lat_min AND $lat_max AND lon BETWEEN $lon_min AND $lon_max)"
    pair = "concat_ws(', ', lat_text, lon_text)"
    # Conditions test the parsed value first, so the text is looked at again
    # only for the few rows that failed (see ingest_sql.blank).
    rules = [
        ("lat", f"lat_n IS NULL AND {ingest_sql.blank('lat_text')}", "lat_text",
         _required("lat", present, "decimal degrees (WGS84), e.g. 37.5665")),
        ("lat", f"NOT coalesce(isfinite(lat_n), false) AND NOT {ingest_sql.blank('lat_text')}", "lat_text",
         "not a number: use decimal degrees (WGS84), e.g. 37.5665"),
        ("lon", f"lon_n IS NULL AND {ingest_sql.blank('lon_text')}", "lon_text",
         _required("lon", present, "decimal degrees (WGS84), e.g. 126.978")),
        ("lon", f"NOT coalesce(isfinite(lon_n), false) AND NOT {ingest_sql.blank('lon_text')}", "lon_text",
         "not a number: use decimal degrees (WGS84), e.g. 126.978"),
        ("lat/lon", f"isfinite(lat) AND isfinite(lon) AND NOT {inside}", pair, area),
        ("lat/lon", "swapped", pair, "latitude and longitude were swapped; swapped back", True),
        ("observed_at", f"observed_at IS NULL AND {ingest_sql.blank('time_text')}", "time_text",
         _required("observed_at", present, _EXAMPLE_TIME)),
        ("observed_at", f"observed_at IS NULL AND NOT {ingest_sql.blank('time_text')}", "time_text",
         f"not a time: use ISO 8601, {_EXAMPLE_TIME}"),
        ("observed_at", "observed_at > $latest", "time_text",
         "in the future; check the date and the time zone (no offset means Seoul time)"),
        ("observed_at", "observed_at < $oldest", "time_text",
         f"before {city.oldest_observation.date()}; check the date"),
        ("carrier", "carrier IS NULL", "carrier",
         _required("carrier", present, "SKT, KT, LGU+ or an MVNO brand with its network")),
        ("carrier", "carrier_message IS NOT NULL", "carrier", None),
        ("kind", "kind IS NULL", "kind", _required("kind", present, "one of " + ", ".join(vocab.ALL_KINDS))),
        ("kind", "kind_message IS NOT NULL", "kind", None),
        ("tech", "tech_message IS NOT NULL", "tech", None),
        ("accuracy_m", f"NOT coalesce(isfinite(accuracy_m), false) AND NOT {ingest_sql.blank('accuracy_text')}",
         "accuracy_text", "must be a number of metres"),
        ("accuracy_m", f"isfinite(accuracy_m) AND (accuracy_m < 0 OR accuracy_m > {MAX_ACCURACY_M})", "accuracy_text",
         f"must be between 0 and {MAX_ACCURACY_M} metres"),
        ("status", f"trim(status) NOT IN ({', '.join(repr(s) for s in STATUSES)})", "status",
         f"status must be one of {', '.join(STATUSES)}"),
    ]
    for name, limit in MAX_LENGTHS.items():
        rules.append((name, f"length({name}) > {limit}", name, f"longer than {limit} characters; cut to {limit}", True))

    checks, messages = [], {}
    rules = [r for r in rules if r[0] != "status" or "status" in present]
    for i, (name, condition, value, message, *warning) in enumerate(rules):
        if message is None:  # the vocabulary lookup wrote its own message per spelling
            bound = f"{name}_message"
        else:
            bound = f"$m{i:02d}"  # fixed width: no name is a prefix of another
            messages[f"m{i:02d}"] = message
        checks.append(Check(name, condition, value, bound, bool(warning and warning[0])))
    params = {"lat_min": region.lat_min, "lat_max": region.lat_max, "lon_min": region.lon_min,
              "lon_max": region.lon_max}
    return checks, {**messages, **params}


# --- vocabulary lookups --------------------------------------------------------------------

@lru_cache(maxsize=4096)  # vocabulary values: a few dozen
def text_id(text: str | None) -> int | None:
    """A stable 64-bit id of a vocabulary value (for fingerprints); blake2b, not a DuckDB hash."""
    if text is None:
        return None
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def _carrier_map(spellings: list[tuple]) -> pd.DataFrame:
    rows = []
    for carrier, network in spellings:
        try:
            found = vocab.normalise_carrier(carrier, network)
            rows.append((carrier, network or "", found.network, found.brand, found.mvno, None,
                         text_id(found.network), text_id(found.brand)))
        except InputError as e:
            rows.append((carrier, network or "", None, None, None, e.message, None, None))
    return _typed_frame(rows, ["carrier", "network_text", "network", "brand", "mvno", "message", "network_id",
                               "brand_id"], {"mvno": "boolean", "network_id": "UInt64", "brand_id": "UInt64"})


def _lookup_map(spellings: list[tuple], normalise) -> pd.DataFrame:
    rows = []
    for (text,) in spellings:
        try:
            value = normalise(text)
            rows.append((text, value, None, text_id(value)))
        except InputError as e:
            rows.append((text, None, e.message, None))
    return _typed_frame(rows, ["text", "value", "message", "value_id"], {"value_id": "UInt64"})


def _typed_frame(rows: list[tuple], columns: list[str], types: dict[str, str]) -> pd.DataFrame:
    """A small lookup table whose columns keep their SQL types even when it is empty."""
    return pd.DataFrame(rows, columns=columns).astype({c: types.get(c, "string") for c in columns})


# --- the one path --------------------------------------------------------------------------

@dataclass
class Lookups:
    """Small tables registered for the checks (and, when staging, the reporter hashes)."""

    tables: dict[str, pd.DataFrame]
    reporter_codes: list[str]


def _lookups(cur: duckdb.DuckDBPyConnection, present: set[str]) -> Lookups:
    spellings = ingest_sql.distinct_values(cur, present)
    return Lookups(
        tables={
            "carrier_map": _carrier_map(spellings["carrier"]),
            "kind_map": _lookup_map(spellings["kind"], vocab.normalise_kind),
            "tech_map": _lookup_map(spellings["tech"], vocab.normalise_tech),
        },
        reporter_codes=[code for (code,) in spellings["reporter"]],
    )


def check_raw(cur: duckdb.DuckDBPyConnection, present: set[str], *, now: datetime | None = None,
              city: City | None = None, staging=None, fast: bool = True) -> Problems:
    """Check view ``raw`` of cursor ``cur`` into table ``checked``; returns the problems.

    ``staging`` (see ingest.loader) is called with the distinct reporter codes
    and returns (tables to register, parameters) for the stored columns; without
    it only the checks run. ``fast=False`` evaluates every check on every row
    (tests compare it with the fast path).
    """
    city = city or load_city()
    now = now or datetime.now(UTC)
    lookups = _lookups(cur, present)
    checks, params = _checks(present, city)
    condition_params = _used(params, checks, conditions=True)
    condition_params.update({"zone": city.timezone,
                             "latest": now + timedelta(minutes=city.max_clock_skew_minutes),
                             "oldest": city.oldest_observation})
    tables = dict(lookups.tables)
    if staging is not None:
        extra_tables, extra_params = staging(lookups.reporter_codes)
        tables.update(extra_tables)
        condition_params.update(extra_params)
    for name, frame in tables.items():
        cur.register(name, frame)
    try:
        ingest_sql.build_checked(cur, present, checks, condition_params, dict(MAX_LENGTHS),
                          all_clear=_all_clear(present) if fast else None, staging=staging is not None)
    finally:
        for name in tables:
            cur.unregister(name)
    return _problems(cur, checks, params)


def _all_clear(present: set[str]) -> str:
    """SQL that holds only for rows no check flags: the fast path for the many good rows.

    Every term is the plain negation of checks above (tests/test_validate.py
    compares results with and without it); NULL counts as not clear.
    """
    inside = "lat BETWEEN $lat_min AND $lat_max AND lon BETWEEN $lon_min AND $lon_max"
    terms = [
        "isfinite(lat)", "isfinite(lon)", inside, "NOT swapped",
        "observed_at >= $oldest", "observed_at <= $latest",
        "carrier IS NOT NULL", "carrier_message IS NULL", "kind IS NOT NULL", "kind_message IS NULL",
        "tech_message IS NULL",
        f"(accuracy_text IS NULL OR accuracy_m BETWEEN 0 AND {MAX_ACCURACY_M})",
        *(f"({name} IS NULL OR length({name}) <= {limit})" for name, limit in MAX_LENGTHS.items()),
    ]
    if "status" in present:
        terms.append(f"trim(status) IN ({', '.join(repr(s) for s in STATUSES)})")
    return " AND ".join(terms)


def _used(params: dict, checks: list[Check], *, conditions: bool) -> dict:
    """The parameters the conditions mention (DuckDB refuses unused named parameters)."""
    text = " ".join(c.condition if conditions else c.message for c in checks)
    return {k: v for k, v in params.items() if re.search(rf"\${k}\b", text)}


def _problems(cur: duckdb.DuckDBPyConnection, checks: list[Check], params: dict) -> Problems:
    problems = Problems()
    problems.rows, counts = ingest_sql.count_flags(cur, len(checks))
    for warning, target in ((False, problems.errors), (True, problems.warnings)):
        indexes = [i for i, c in enumerate(checks) if c.warning == warning and counts[i]]
        total = sum(counts[i] for i in indexes)
        if warning:
            problems.warning_count = total
        else:
            problems.error_count = total
        used = _used(params, [checks[i] for i in indexes], conditions=False)
        for row, i, value, message in ingest_sql.flagged_rows(cur, checks, indexes, used, MAX_ERRORS):
            target.append({"row": int(row), "field": checks[i].field, "value": _shown(value), "message": message})
    return problems


def frame_into_raw(cur: duckdb.DuckDBPyConnection, raw: pd.DataFrame, row_numbers: np.ndarray | None = None,
                   status: pd.Series | None = None) -> set[str]:
    """Make ``raw`` of ``cur`` a view over a field-named frame; returns the fields present."""
    raw = raw.reset_index(drop=True)  # callers pass slices (demo chunks): align on position
    present = [f for f in FIELDS if f in raw.columns]
    frame = pd.DataFrame({f: _sql_friendly(raw[f]) for f in present}, index=raw.index)
    rows = np.arange(1, len(raw) + 1) if row_numbers is None else np.asarray(row_numbers, dtype=np.int64)
    if len(rows) != len(raw):
        raise ValueError(f"row_numbers has {len(rows)} entries for {len(raw)} rows")
    frame["row"] = rows
    if status is not None:
        frame["status"] = pd.Series(status).astype("string").to_numpy()
        present.append("status")
    # Registered for the cursor's lifetime: view ``raw`` reads it (closing the cursor drops both).
    cur.register("raw_frame", frame)
    ingest_sql.frame_raw_view(cur, "raw_frame", present)
    return set(present)


def _sql_friendly(column: pd.Series) -> pd.Series:
    """A column DuckDB can read: objects of mixed types (JSON values, datetimes) become text."""
    if column.dtype != object:
        return column
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        return column.astype("string")
    return column.map(_text_of, na_action="ignore").astype("string")


def _text_of(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, datetime):
        return value.isoformat()  # keeps its offset, if it has one
    return str(value)


def validate_frame(raw: pd.DataFrame, *, now: datetime | None = None, city: City | None = None,
                   row_numbers: np.ndarray | None = None) -> tuple[pd.DataFrame, Problems]:
    """Validate raw rows whose columns are already named by field (see ingest.fields).

    Returns the good rows, normalised (columns ``OUTPUT_COLUMNS``), and the problems.
    """
    cur = ingest_sql.scratch_cursor()
    try:
        present = frame_into_raw(cur, raw, row_numbers)
        problems = check_raw(cur, present, now=now, city=city)
        good = ingest_sql.good_rows(cur)
    finally:
        cur.close()
    return good.select(list(OUTPUT_COLUMNS)).to_pandas(), problems

