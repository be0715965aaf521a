"""Validation of raw report rows, vectorised: the one path every input takes.

Files, web forms, API requests and the demo generator all hand a table of raw
values (strings or numbers, one column per field) to ``validate_frame``. It
returns the normalised good rows plus one error per bad (row, field), so a
file with bad rows still loads its good ones.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pandas as pd

from core.city import City, load_city
from core.errors import InputError
from ingest import vocab
from ingest.fields import FIELDS, MAX_LENGTHS, REQUIRED

MAX_ERRORS = 1000  # errors listed in full; the rest are only counted
_VALUE_SHOWN = 80  # characters of a bad value echoed back

# Control characters and the Unicode bidi/zero-width marks that can disguise text.
_CONTROL = r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"

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

    def add(self, rows: np.ndarray, name: str, values, message: str, *, warning: bool = False) -> None:
        target = self.warnings if warning else self.errors
        if warning:
            self.warning_count += len(rows)
        else:
            self.error_count += len(rows)
        room = MAX_ERRORS - len(target)
        for row, value in list(zip(rows, values))[: max(room, 0)]:
            target.append({"row": int(row), "field": name, "value": _shown(value), "message": message})


def _shown(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value)
    return text if len(text) <= _VALUE_SHOWN else text[:_VALUE_SHOWN] + "…"


def _as_text(col: pd.Series) -> pd.Series:
    """Strings with control characters removed and blanks as missing."""
    text = col.astype("string").str.replace(_CONTROL, "", regex=True).str.strip()
    return text.mask(text == "")


_parser_lock = threading.Lock()
_parsers: dict[str, duckdb.DuckDBPyConnection] = {}


def _time_parser(zone: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose session zone is the city's: naive times mean local time."""
    with _parser_lock:
        con = _parsers.get(zone)
        if con is None:
            con = duckdb.connect(":memory:")
            # GLOBAL: cursors are new connections and would not see a session setting.
            con.execute(f"SET GLOBAL TimeZone = '{zone}'")  # zone comes from city.json, not a user
            _parsers[zone] = con
        return con.cursor()


_PARSE_TIMES = """
SELECT CASE
    WHEN regexp_full_match(v, '\\d{13}') THEN to_timestamp(v::BIGINT / 1000.0)
    WHEN regexp_full_match(v, '\\d{10}') THEN to_timestamp(v::BIGINT)
    ELSE coalesce(
        TRY_CAST(v AS TIMESTAMPTZ),
        TRY_CAST(try_strptime(v, ['%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y.%m.%d %H:%M:%S',
                                  '%Y.%m.%d %H:%M', '%Y.%m.%d_%H.%M.%S', '%Y%m%d%H%M%S']) AS TIMESTAMPTZ))
    END AS t
FROM times
"""


def parse_times(values: pd.Series, zone: str) -> pd.Series:
    """ISO 8601 (offset optional: none means ``zone``), common Korean layouts, epoch s/ms -> UTC."""
    cur = _time_parser(zone)
    times = pd.DataFrame({"v": values.astype("string")})  # noqa: F841 (read by DuckDB)
    parsed = cur.execute(_PARSE_TIMES).df()["t"]
    return pd.to_datetime(parsed, utc=True).dt.tz_convert("UTC")


def validate_frame(raw: pd.DataFrame, *, now: datetime | None = None, city: City | None = None,
                   row_numbers: np.ndarray | None = None) -> tuple[pd.DataFrame, Problems]:
    """Validate raw rows whose columns are already named by field (see ingest.fields).

    Returns the good rows, normalised (columns ``OUTPUT_COLUMNS``), and the problems.
    """
    city = city or load_city()
    now = now or datetime.now(timezone.utc)
    n = len(raw)
    rows = np.asarray(row_numbers if row_numbers is not None else np.arange(1, n + 1))
    raw = raw.reset_index(drop=True)
    problems = Problems()
    bad = np.zeros(n, dtype=bool)

    def column(name: str) -> pd.Series:
        if name in raw.columns:
            return _as_text(raw[name])
        return pd.Series(pd.NA, index=raw.index, dtype="string")

    def reject(mask: np.ndarray, name: str, values: pd.Series, message: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            problems.add(rows[mask], name, values[mask].tolist(), message)
            bad[mask] = True

    for name in REQUIRED:
        if name not in raw.columns and n:
            reject(np.ones(n, bool), name, pd.Series([None] * n),
                   f"column missing; add a '{name}' column (see docs/API.md for accepted names)")

    lat, lon = _coordinates(column("lat"), column("lon"), city, rows, problems, reject)
    observed = _times(column("observed_at"), now, city, reject)
    carriers = _vocabulary(column("carrier"), column("network"), reject)
    kind = _mapped(column("kind"), "kind", vocab.normalise_kind, reject, required=True)
    tech = _mapped(column("tech"), "tech", vocab.normalise_tech, reject, required=False)

    acc_text = column("accuracy_m")
    accuracy = pd.to_numeric(acc_text, errors="coerce").astype("float64")
    reject(acc_text.notna().to_numpy() & ~np.isfinite(accuracy.to_numpy()), "accuracy_m", acc_text,
           "must be a number of metres")
    reject(((accuracy < 0) | (accuracy > 10_000)).fillna(False).to_numpy(), "accuracy_m", acc_text,
           "must be between 0 and 10000 metres")

    texts = {}
    for name, limit in MAX_LENGTHS.items():
        text = column(name)
        too_long = text.str.len().fillna(0).to_numpy() > limit
        if too_long.any():
            problems.add(rows[too_long], name, text[too_long].tolist(),
                         f"longer than {limit} characters; cut to {limit}", warning=True)
            text = text.str.slice(0, limit)
        texts[name] = text

    good = ~bad
    out = pd.DataFrame({
        "row": rows[good],
        "observed_at": observed[good].reset_index(drop=True),
        "lat": lat[good],
        "lon": lon[good],
        "accuracy_m": accuracy[good].to_numpy(dtype="float64"),
        "network": carriers["network"][good].to_numpy(),
        "brand": carriers["brand"][good].to_numpy(),
        "mvno": carriers["mvno"][good].to_numpy(dtype=bool),
        "tech": tech[good].fillna("unknown").to_numpy(),
        "kind": kind[good].to_numpy(),
        **{name: text[good].to_numpy(dtype=object, na_value=None) for name, text in texts.items()},
    })
    return out[list(OUTPUT_COLUMNS)], problems


def _coordinates(lat_text, lon_text, city: City, rows, problems: Problems, reject):
    lat = pd.to_numeric(lat_text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    lon = pd.to_numeric(lon_text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    for name, text, values in (("lat", lat_text, lat), ("lon", lon_text, lon)):
        reject(text.isna().to_numpy(), name, text, "required: decimal degrees (WGS84), e.g. 37.5665 / 126.978")
        reject(text.notna().to_numpy() & ~np.isfinite(values), name, text,
               "not a number: use decimal degrees (WGS84) with a dot, e.g. 37.5665")
    region = city.region
    ok = np.isfinite(lat) & np.isfinite(lon)
    inside = ok & (lat >= region.lat_min) & (lat <= region.lat_max) & (lon >= region.lon_min) & (lon <= region.lon_max)
    swapped = ok & ~inside & (lon >= region.lat_min) & (lon <= region.lat_max) & \
        (lat >= region.lon_min) & (lat <= region.lon_max)
    if swapped.any():
        pairs = [f"{a}, {b}" for a, b in zip(lat[swapped], lon[swapped])]
        problems.add(rows[swapped], "lat/lon", pairs, "latitude and longitude were swapped; swapped back", warning=True)
        lat, lon = lat.copy(), lon.copy()
        lat[swapped], lon[swapped] = lon[swapped], lat[swapped]
        inside = inside | swapped
    outside = ok & ~inside
    pairs = pd.Series([f"{a}, {b}" for a, b in zip(lat, lon)]) if outside.any() else pd.Series([None] * len(lat))
    reject(outside, "lat/lon", pairs,
           f"outside the area covered ({region.name}: lat {region.lat_min}–{region.lat_max}, "
           f"lon {region.lon_min}–{region.lon_max}); check the sign and the order")
    return lat, lon


def _times(text: pd.Series, now: datetime, city: City, reject) -> pd.Series:
    reject(text.isna().to_numpy(), "observed_at", text,
           "required: ISO 8601 time, e.g. 2021-10-25T11:16:00+09:00 (no offset means Seoul time)")
    parsed = parse_times(text, city.timezone)
    unparsed = text.notna().to_numpy() & parsed.isna().to_numpy()
    reject(unparsed, "observed_at", text,
           "not a time: use ISO 8601, e.g. 2021-10-25T11:16:00+09:00 or 2021-10-25 11:16")
    latest = pd.Timestamp(now + timedelta(minutes=city.max_clock_skew_minutes))
    oldest = pd.Timestamp(city.oldest_observation)
    reject((parsed > latest).fillna(False).to_numpy(), "observed_at", text,
           "in the future; check the date and the time zone (no offset means Seoul time)")
    reject((parsed < oldest).fillna(False).to_numpy(), "observed_at", text,
           f"before {city.oldest_observation.date()}; check the date")
    return parsed


def _vocabulary(carrier_text: pd.Series, network_text: pd.Series, reject) -> dict[str, pd.Series]:
    """Normalise each distinct (carrier, network) pair once, then map."""
    pairs = pd.DataFrame({"c": carrier_text, "n": network_text})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(pairs.fillna("\0")))
    networks, brands, mvnos, messages = [], [], [], []
    for c, hint in uniques:
        try:
            found = vocab.normalise_carrier(None if c == "\0" else c, None if hint == "\0" else hint)
            networks.append(found.network), brands.append(found.brand), mvnos.append(found.mvno), messages.append(None)
        except InputError as e:
            networks.append(None), brands.append(None), mvnos.append(False), messages.append(e.message)
    messages_arr = np.array(messages, dtype=object)[codes] if len(codes) else np.array([], dtype=object)
    for message in set(m for m in messages if m):
        reject(messages_arr == message, "carrier", carrier_text, message)
    take = lambda values: pd.Series(np.array(values, dtype=object)[codes] if len(codes) else [], dtype=object)  # noqa: E731
    return {"network": take(networks), "brand": take(brands), "mvno": take(mvnos).astype(bool)}


def _mapped(text: pd.Series, name: str, normalise, reject, *, required: bool) -> pd.Series:
    """Map each distinct value once through ``normalise`` (which raises InputError)."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    mapped, messages = [], []
    for value in uniques:
        try:
            mapped.append(normalise(value)), messages.append(None)
        except InputError as e:
            mapped.append(None), messages.append(e.message)
    lookup = np.array(mapped + [None], dtype=object)  # index -1 (missing) -> None
    result = pd.Series(lookup[codes], dtype=object)
    message_arr = np.array(messages + [None], dtype=object)[codes]
    for message in set(m for m in messages if m):
        reject(message_arr == message, name, text, message)
    if required:
        reject(text.isna().to_numpy(), name, text, f"required: one of {', '.join(vocab.ALL_KINDS)}")
    return result
