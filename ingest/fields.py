"""Report fields and the column names accepted for each (aliases)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from ingest.identity import MAX_CODE_CHARS

# field -> accepted names, compared after folding (see ``fold_header``).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "lat": ("lat", "latitude", "위도", "y"),
    "lon": ("lon", "lng", "long", "longitude", "경도", "x"),
    "carrier": ("carrier", "operator", "통신사", "이동통신사", "이통사", "provider", "telco", "brand", "mno",
                "carrier_name"),
    "network": ("network", "host_network", "망", "host"),
    "kind": ("kind", "type", "failure", "failure_kind", "event", "유형", "장애유형", "종류", "장애"),
    "observed_at": ("observed_at", "time", "timestamp", "datetime", "date_time", "when", "시각", "일시", "발생시각",
                    "발생일시", "measured_at", "observed"),
    "accuracy_m": ("accuracy_m", "accuracy", "acc", "정확도", "horizontal_accuracy"),
    "tech": ("tech", "technology", "net_type", "rat", "network_type", "망종류", "act", "통신방식"),
    "device_model": ("device_model", "device", "model", "phone", "기종", "단말기", "단말", "devn", "phone_model"),
    "note": ("note", "notes", "comment", "메모", "내용", "description", "설명"),
    "reporter_code": ("reporter_code", "code", "제보자코드", "reporter"),
}
REQUIRED = ("lat", "lon", "carrier", "kind", "observed_at")
FIELDS = tuple(FIELD_ALIASES)

MAX_LENGTHS = {"device_model": 80, "note": 500, "reporter_code": MAX_CODE_CHARS}


def fold_header(name: object) -> str:
    """'Latitude ', '\\ufefflat', 'Observed At' -> 'latitude', 'lat', 'observed_at'."""
    text = str(name).replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s\-.]+", "_", text)


_LOOKUP = {fold_header(alias): field for field, aliases in FIELD_ALIASES.items() for alias in aliases}


def map_columns(columns: list[object], names: list[str] | None = None) -> tuple[dict[object, str], list[str]]:
    """Map a file's columns to fields; returns (column -> field, ignored column names).

    ``names`` are the header texts when ``columns`` are positions. The first
    column that names a field wins; later synonyms are ignored.
    """
    names = [str(c) for c in columns] if names is None else [str(n) for n in names]
    mapping: dict[object, str] = {}
    taken: set[str] = set()
    ignored: list[str] = []
    for col, name in zip(columns, names, strict=True):
        field = _LOOKUP.get(fold_header(name))
        if field is None or field in taken:
            ignored.append(name)
            continue
        mapping[col] = field
        taken.add(field)
    return mapping, ignored


def columns_by_field(columns: list[object]) -> tuple[dict[str, list[object]], list[str]]:
    """Every column naming each field, in order; and the columns naming none.

    For records (JSON) whose keys vary from one record to the next: a field's
    value is the first of its columns that the record has.
    """
    by_field: dict[str, list[object]] = {}
    ignored: list[str] = []
    for col in columns:
        field = _LOOKUP.get(fold_header(col))
        if field is None:
            ignored.append(str(col))
        else:
            by_field.setdefault(field, []).append(col)
    return by_field, ignored


def epoch_micros(times) -> np.ndarray:
    """Microseconds since 1970-01-01 UTC of timezone-aware datetimes (int64)."""
    return np.array([(t - _EPOCH) // _MICROSECOND for t in times], dtype=np.int64)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def is_missing(value) -> bool:
    """Whether a cell holds no value: None, NaN, NaT or pandas' NA (a list or a dict is a value)."""
    if value is None:
        return True
    if isinstance(value, (str, list, tuple, dict, set)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


UNENCODABLE = "text that is not valid Unicode (a lone surrogate such as \\ud800); send UTF-8 text"


def _is_unencodable(value) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_is_unencodable(k) or _is_unencodable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_is_unencodable(v) for v in value)
    return False


def unencodable_field(record: Mapping) -> tuple[str, str] | None:
    """(field, printable value) of the first text in ``record`` (a record, or columns of lists) that UTF-8
    cannot encode, such as a lone surrogate "\\ud800" from JSON; None when every text can be stored."""
    for key, value in record.items():
        if _is_unencodable(key) or _is_unencodable(value):
            if isinstance(value, list):  # a column: the value at fault
                value = next((v for v in value if _is_unencodable(v)), value)
            return _printable(key), _printable(value)[:80]
    return None


def _printable(value) -> str:
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")
