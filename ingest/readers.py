"""Files -> raw rows named by field. Encodings and formats are detected here.

Every reader returns a ``RawRows``: a DataFrame whose columns are report
fields (see ingest.fields) holding the file's values as text, and the 1-based
record number of each row in the file (the header line is not counted).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from core.errors import UnreadableFileError
from ingest.fields import map_columns
from ingest.formats import LOGGER_FORMATS

FORMATS = ("auto", "csv", "jsonl", "geojson", *LOGGER_FORMATS)
MAX_JSON_BYTES = 512 * 1024 * 1024


@dataclass
class RawRows:
    frame: pd.DataFrame
    row_numbers: np.ndarray
    fmt: str
    ignored_columns: list[str] = field(default_factory=list)
    unparsed: list[tuple[int, str]] = field(default_factory=list)  # (record number, why) of non-records


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def decode_text(data: bytes) -> tuple[str, str]:
    """Text of ``data`` as UTF-8 (with or without BOM), else CP949/EUC-KR; and the encoding."""
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise UnreadableFileError("the file is neither UTF-8 nor CP949/EUC-KR text; save it as UTF-8 CSV and retry")


def detect_format(path: Path, head: str) -> str:
    """The format of a file from its name and its first characters."""
    suffix = path.suffix.lower()
    stripped = head.lstrip()
    if suffix in (".geojson",) or (stripped.startswith("{") and '"FeatureCollection"' in head[:4096]):
        return "geojson"
    if suffix in (".jsonl", ".ndjson") or stripped.startswith("{"):
        return "jsonl"
    if stripped.startswith("["):
        return "json"
    first_line = stripped.splitlines()[0] if stripped else ""
    for name, module in LOGGER_FORMATS.items():
        if module.sniff(first_line):
            return name
    if suffix in (".csv", ".tsv", ".txt") or "," in first_line or "\t" in first_line or ";" in first_line:
        return "csv"
    raise UnreadableFileError(
        f"cannot tell the format of {path.name}; name it .csv, .jsonl or .geojson, or pass --format"
    )


def read_file(path: Path, fmt: str = "auto") -> RawRows:
    """Read ``path`` in format ``fmt`` (or the detected one) into raw rows."""
    if fmt not in FORMATS:
        raise UnreadableFileError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UnreadableFileError(f"cannot read {path}: {e.strerror or e}") from e
    if not data.strip():
        raise UnreadableFileError(f"{path.name} is empty")
    text, encoding = decode_text(data)
    if fmt == "auto":
        fmt = detect_format(path, text[:65536])
    if fmt in ("geojson", "json"):
        return _read_json_document(text, fmt)
    if fmt == "jsonl":
        return _read_jsonl(text)
    table = _read_csv(path, text, encoding)
    if fmt in LOGGER_FORMATS:
        frame, rows = LOGGER_FORMATS[fmt].to_fields(table)
        return RawRows(frame, rows, fmt)
    return _named(table, np.arange(1, len(table) + 1), "csv")


def _named(table: pd.DataFrame, rows: np.ndarray, fmt: str) -> RawRows:
    mapping, ignored = map_columns(list(table.columns))
    frame = table[list(mapping)].rename(columns=mapping)
    return RawRows(frame.reset_index(drop=True), rows, fmt, ignored)


def _read_csv(path: Path, text: str, encoding: str) -> pd.DataFrame:
    """All columns as text, delimiter sniffed by DuckDB; non-UTF-8 files go through a UTF-8 copy."""
    source = path
    tmp = None
    if encoding != "utf-8-sig" or text.startswith("\ufeff"):
        tmp = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8")
        tmp.write(text.lstrip("\ufeff"))
        tmp.close()
        source = Path(tmp.name)
    con = duckdb.connect(":memory:")
    try:
        return con.execute(
            "SELECT * FROM read_csv(?, all_varchar = true, header = true, null_padding = true,"
            " strict_mode = false, ignore_errors = false)",
            [str(source)],
        ).df()
    except duckdb.Error as e:
        raise UnreadableFileError(f"cannot parse {path.name} as CSV: {str(e).splitlines()[0]}") from e
    finally:
        con.close()
        if tmp is not None:
            os.unlink(tmp.name)


def _read_jsonl(text: str) -> RawRows:
    records, rows, bad = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            bad.append((number, f"not JSON ({e.msg} at column {e.colno})"))
            continue
        if not isinstance(value, dict):
            bad.append((number, "each line must be one JSON object"))
            continue
        records.append(value)
        rows.append(number)
    return _from_records(records, np.array(rows, dtype=np.int64), "jsonl", bad)


def _read_json_document(text: str, fmt: str) -> RawRows:
    if len(text) > MAX_JSON_BYTES:
        raise UnreadableFileError("JSON document larger than 512 MB; split it or use JSON Lines")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise UnreadableFileError(f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    records, bad = records_from_json(doc)
    return _from_records(records, np.arange(1, len(records) + 1), "geojson" if _is_geojson(doc) else "json", bad)


def _is_geojson(doc) -> bool:
    return isinstance(doc, dict) and doc.get("type") in ("FeatureCollection", "Feature")


def records_from_json(doc) -> tuple[list[dict], list[tuple[int, str]]]:
    """Flat records from a report object, a list of them, or a GeoJSON Feature(Collection).

    Returns (records, problems); a feature without a usable Point keeps its place
    with no coordinates, so it is rejected with a row number rather than dropped.
    """
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise UnreadableFileError("FeatureCollection without a 'features' list")
        return [_feature_record(f) for f in features], []
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        return [_feature_record(doc)], []
    if isinstance(doc, dict):
        return [doc], []
    if isinstance(doc, list):
        return [r if isinstance(r, dict) else {} for r in doc], []
    raise UnreadableFileError("expected a JSON object, a list of objects or a GeoJSON FeatureCollection")


def _feature_record(feature) -> dict:
    if not isinstance(feature, dict):
        return {}
    props = feature.get("properties") if isinstance(feature.get("properties"), dict) else {}
    record = {k: v for k, v in props.items() if k not in ("lat", "lon", "latitude", "longitude", "lng")}
    geometry = feature.get("geometry")
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        coords = geometry.get("coordinates")
        if isinstance(coords, list) and len(coords) >= 2:
            record["lon"], record["lat"] = coords[0], coords[1]  # RFC 7946: [lon, lat]
    return record


def _from_records(records: list[dict], rows: np.ndarray, fmt: str, bad: list[tuple[int, str]]) -> RawRows:
    table = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    table = table.map(_scalar_text) if not table.empty else table
    raw = _named(table, rows, fmt)
    raw.unparsed = bad
    return raw


def _scalar_text(value):
    """JSON scalars as text (validation parses them); nested values are refused as text."""
    if value is None or isinstance(value, (dict, list)):
        return None if value is None else json.dumps(value, ensure_ascii=False)[:200]
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
