"""The quick path for a few plainly valid reports (a form, an API request).

``ingest.validate.check_raw`` is built for files: a dozen DuckDB statements
whose planning costs tens of milliseconds whether the batch holds one row or a
million. A person's report is one row, and the API's clients send single
reports at a high rate, so ``clean_rows`` looks at small batches first, in
plain Python: when EVERY row is in its plainest form and breaks no rule of
docs/INPUT.md -- nothing to reject, nothing to warn about, nothing to repair --
it returns the normalised values, exactly those the full path would store.
Anything else (a bad value, a swapped coordinate, a Korean Excel date, a
control character in a note, an unusual type) returns None, and the batch takes
the full path, which words every error and warning. So this module never
decides that a row is wrong; it only recognises rows that are certainly right.

The vocabulary lookups are the very functions the full path calls
(``core.vocab``); tests/test_quick.py feeds random and hostile rows to both
paths and requires the same stored values whenever this one accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from core import vocab
from core.city import City, load_city
from core.errors import InputError
from ingest.fields import FIELDS, MAX_LENGTHS, REQUIRED, is_missing
from ingest.validate import MAX_ACCURACY_M

MAX_ROWS = 64  # larger batches gain nothing here: the full path's fixed cost is shared by their rows

_DEGREES = re.compile(r"[+-]?\d{1,3}(\.\d{1,15})?")
_METRES = re.compile(r"\d{1,5}(\.\d{1,6})?")
# ISO 8601 as clients and the form write it; the offset, when given, as Z or ±HH:MM.
_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d:\d\d)?")
# What the full path's text cleaning would change (store.ingest_sql._SPACES and _CONTROLS), and more:
# any character outside plain printable text sends the row to the full path.
_UNPLAIN = re.compile(r"[^\S ]|[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\u3000\ufeff]")


@dataclass
class CleanRows:
    """Normalised columns of rows that passed every rule, in the order given."""

    observed_at: list[datetime]  # UTC
    lat: list[float]
    lon: list[float]
    accuracy_m: list[float | None]
    network: list[str]
    brand: list[str]
    mvno: list[bool]
    tech: list[str]
    kind: list[str]
    device_model: list[str | None]
    note: list[str | None]
    reporter_code: list[str | None]


def clean_rows(raw: pd.DataFrame | Mapping[str, list], *, now: datetime | None = None,
               city: City | None = None) -> CleanRows | None:
    """The normalised rows when every row of ``raw`` is plainly valid, else None (use the full path).

    ``raw``: a DataFrame, or columns as lists (field -> one value per row).
    """
    n = row_count(raw)
    if n == 0 or n > MAX_ROWS:
        return None
    present = [f for f in FIELDS if f in raw]
    if any(f not in present for f in REQUIRED):
        return None
    columns = {}
    for name in present:
        values = raw[name].tolist() if isinstance(raw, pd.DataFrame) else list(raw[name])
        if any(not (v is None or isinstance(v, str) or is_missing(v)) for v in values):
            return None  # numbers, datetimes, JSON: the full path turns them into text its own way
        columns[name] = [None if v is None or is_missing(v) else v for v in values]
    city = city or load_city()
    now = now or datetime.now(UTC)
    bounds = (city.oldest_observation, now + timedelta(minutes=city.max_clock_skew_minutes))
    out = CleanRows([], [], [], [], [], [], [], [], [], [], [], [])
    empty = [None] * n
    for i in range(n):
        row = {name: columns.get(name, empty)[i] for name in FIELDS}
        if not _clean_row(row, out, city, bounds):
            return None
    return out


def row_count(raw: pd.DataFrame | Mapping[str, list]) -> int:
    """Rows of a DataFrame, or of columns given as lists (all of one length)."""
    if isinstance(raw, pd.DataFrame):
        return len(raw)
    lengths = {len(values) for values in raw.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _clean_row(row: dict, out: CleanRows, city: City, bounds: tuple[datetime, datetime]) -> bool:
    lat, lon = _number(row["lat"], _DEGREES), _number(row["lon"], _DEGREES)
    if lat is None or lon is None or not city.region.contains(lat, lon):
        return False
    observed = _time(row["observed_at"], city)
    if observed is None or not bounds[0] <= observed <= bounds[1]:
        return False
    accuracy = None
    if row["accuracy_m"] is not None:
        accuracy = _number(row["accuracy_m"], _METRES)
        if accuracy is None or accuracy > MAX_ACCURACY_M:
            return False
    texts = {}
    for name in ("device_model", "note", "reporter_code"):
        text = row[name]
        if text is not None and (not text or text != text.strip() or len(text) > MAX_LENGTHS[name]
                                 or _UNPLAIN.search(text)):
            return False
        texts[name] = text
    if any(row[name] is not None and _UNPLAIN.search(row[name]) for name in ("carrier", "network", "kind", "tech")):
        return False  # invisible or control characters: the full path sees exactly what the database holds
    try:
        carrier = vocab.normalise_carrier(row["carrier"], row["network"])
        kind = vocab.normalise_kind(row["kind"])
        tech = vocab.normalise_tech(row["tech"])
    except InputError:
        return False
    out.observed_at.append(observed)
    out.lat.append(lat)
    out.lon.append(lon)
    out.accuracy_m.append(accuracy)
    out.network.append(carrier.network)
    out.brand.append(carrier.brand)
    out.mvno.append(carrier.mvno)
    out.tech.append(tech)
    out.kind.append(kind)
    out.device_model.append(texts["device_model"])
    out.note.append(texts["note"])
    out.reporter_code.append(texts["reporter_code"])
    return True


def _number(text: str | None, shape: re.Pattern) -> float | None:
    if text is None or not shape.fullmatch(text):
        return None
    return float(text)


def _time(text: str | None, city: City) -> datetime | None:
    """UTC time of an ISO 8601 text; a time without offset is the city's wall-clock time."""
    if text is None or not _TIME.fullmatch(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:  # 2021-02-30, 25:00 ...
        return None
    if parsed.tzinfo is None:
        zone = city.tz
        earlier, later = parsed.replace(tzinfo=zone, fold=0), parsed.replace(tzinfo=zone, fold=1)
        if earlier.utcoffset() != later.utcoffset():
            return None  # a wall-clock time that a clock change skips or repeats
        parsed = earlier
    return parsed.astimezone(UTC)
