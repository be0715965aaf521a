"""Files -> raw rows named by field. Encodings and formats are detected here.

``read_into_raw`` puts a file's rows into the scratch table ``raw`` (see
store.ingest_sql): the 1-based record number of each row in the file (the header
line is not counted) and one text column per report field. UTF-8 CSV goes
straight to DuckDB's reader; CP949/EUC-KR and UTF-16 text is converted to a
UTF-8 copy first; JSON documents are read a batch of records at a time
(ingest.json_stream). ``read_file`` returns the
same rows as a DataFrame.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from core.errors import UnreadableFileError
from ingest import json_stream
from ingest.fields import FIELDS, REQUIRED, columns_by_field, map_columns
from ingest.formats import LOGGER_FORMATS
from ingest.validate import frame_into_raw
from store import ingest_sql

FORMATS = ("auto", "csv", "jsonl", "geojson", *LOGGER_FORMATS)
MAX_JSON_BYTES = 512 * 1024 * 1024
_HEAD_BYTES = 65536


@dataclass
class RawRows:
    frame: pd.DataFrame
    row_numbers: np.ndarray
    fmt: str
    ignored_columns: list[str] = field(default_factory=list)
    unparsed: list[tuple[int, str]] = field(default_factory=list)  # (record number, why) of non-records


@dataclass
class RawInfo:
    """What ``read_into_raw`` found: the format, the fields present, and records that were no reports."""

    fmt: str
    present: set[str]
    ignored_columns: list[str] = field(default_factory=list)
    unparsed: list[tuple[int, str]] = field(default_factory=list)


NOT_TEXT = "the file is neither UTF-8 nor CP949/EUC-KR text; save it as UTF-8 (CSV UTF-8) and retry"


def encodings_to_try(head: bytes) -> tuple[str, ...]:
    """The encodings a file starting with ``head`` is read in, in order: UTF-16 when it starts with its
    BOM, else UTF-8 (with or without BOM), then CP949/EUC-KR."""
    return ("utf-16",) if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else ("utf-8-sig", "cp949")


def decode_text(data: bytes) -> tuple[str, str]:
    """Text of ``data`` as UTF-8 (with or without BOM), UTF-16 (with BOM), else CP949/EUC-KR; and the encoding."""
    for encoding in encodings_to_try(data):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise UnreadableFileError(NOT_TEXT)


def _head_text(head: bytes) -> str | None:
    """The first bytes as text when they look like UTF-8 (a character cut at the end is fine)."""
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        return None


def _refuse_binary(path: Path, head: bytes) -> None:
    if head.startswith(b"PK\x03\x04"):
        raise UnreadableFileError(
            f"{path.name} is a zip or Excel workbook; save the sheet as CSV UTF-8 (쉼표로 분리) and upload that")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    if b"\x00" in head:
        raise UnreadableFileError(f"{path.name} is not a text file; upload CSV, JSON Lines or GeoJSON")


def _one_record_a_line(text: str) -> bool:
    """Whether a text starting with ``{`` is JSON Lines rather than one document spread over lines (a
    pretty-printed report, a Feature or a FeatureCollection). Only a first line that plainly opens a
    document, or is itself a GeoJSON object, says "document": a broken or long first record is one
    line of JSON Lines, rejected by its number while the others are kept."""
    line = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0].strip()
    if line in ("{", "[") or line.endswith(("{", "[", ",", ":")) or '"features"' in line[:4096]:
        return False
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return True
    return not (isinstance(value, dict) and value.get("type") in ("Feature", "FeatureCollection"))


def detect_format(path: Path, head: str) -> str:
    """The format of a file from its name and its first characters."""
    suffix = path.suffix.lower()
    stripped = head.lstrip("\ufeff \t\r\n")
    if suffix == ".geojson" or (stripped.startswith("{") and '"FeatureCollection"' in head[:4096]):
        return "geojson"
    if suffix in (".jsonl", ".ndjson") or (stripped.startswith("{") and _one_record_a_line(stripped)):
        return "jsonl"
    if suffix == ".json" or stripped.startswith(("[", "{")):
        return "json"
    first_line = stripped.splitlines()[0] if stripped else ""
    for name, module in LOGGER_FORMATS.items():
        if module.sniff(first_line):
            return name
    if suffix in (".csv", ".tsv", ".txt") or any(d in first_line for d in ",\t;|"):
        return "csv"
    raise UnreadableFileError(
        f"cannot tell the format of {path.name}; name it .csv, .jsonl or .geojson, or pass --format"
    )


def read_into_raw(cur: duckdb.DuckDBPyConnection, path: Path, fmt: str = "auto") -> RawInfo:
    """Put the rows of ``path`` (format ``fmt`` or detected) in ``raw`` of cursor ``cur``."""
    path = Path(path)
    if fmt not in (*FORMATS, "json"):
        raise UnreadableFileError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
        size = path.stat().st_size
    except OSError as e:
        raise UnreadableFileError(f"cannot read {path}: {e.strerror or e}") from e
    if not head.strip() and size <= _HEAD_BYTES:
        raise UnreadableFileError(f"{path.name} is empty")
    _refuse_binary(path, head)
    head_text = _head_text(head)
    if head_text is None:
        head_text, _ = decode_text(head[:-4] if len(head) == _HEAD_BYTES else head)  # cut the last character
    if fmt == "auto":
        fmt = detect_format(path, head_text)
    if fmt in ("geojson", "json", "jsonl"):
        return _read_json(cur, path, fmt, size, head)
    if _is_utf8(head):
        try:
            return _read_csv(cur, path, path, fmt)
        except duckdb.InvalidInputException as e:
            if "unicode" not in str(e).lower():
                raise _unreadable_csv(path, e) from e
        # UTF-8 at the start, not further on: the whole file is CP949 (or broken).
    with _utf8_copy(path) as copy:
        try:
            return _read_csv(cur, path, copy, fmt)
        except duckdb.Error as e:
            raise _unreadable_csv(path, e) from e


def _is_utf8(head: bytes) -> bool:
    return _head_text(head) is not None and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


@contextmanager
def _utf8_copy(path: Path):
    """A UTF-8 copy of a CP949/EUC-KR or UTF-16 text file (decoded as ``decode_text`` would, a
    megabyte at a time), removed afterwards."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    tmp = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8")
    try:
        with tmp:
            for encoding in encodings_to_try(head):
                try:
                    for n, piece in enumerate(json_stream.text_pieces(path, encoding)):
                        tmp.write(piece.lstrip("\ufeff") if n == 0 else piece)
                    break
                except UnicodeDecodeError:
                    tmp.seek(0)
                    tmp.truncate()
            else:
                raise UnreadableFileError(NOT_TEXT)
        yield Path(tmp.name)
    finally:
        os.unlink(tmp.name)


def _read_csv(cur: duckdb.DuckDBPyConnection, path: Path, csv_path: Path, fmt: str) -> RawInfo:
    """Table ``raw`` from a UTF-8 CSV (``csv_path``; ``path`` names the file in messages)."""
    try:
        names, options = ingest_sql.csv_header(cur, str(csv_path))
    except duckdb.InvalidInputException:
        raise
    except duckdb.Error as e:
        raise _unreadable_csv(path, e) from e
    if fmt in LOGGER_FORMATS:
        table = ingest_sql.csv_as_text_frame(cur, str(csv_path), options)
        frame, rows = LOGGER_FORMATS[fmt].to_fields(table)
        return RawInfo(fmt, frame_into_raw(cur, frame, rows))
    mapping, ignored = map_columns(list(range(len(names))), names=names)
    _require_some_field(path, mapping.values(), names)
    ingest_sql.csv_into_raw(cur, str(csv_path), options, len(names), mapping)
    return RawInfo("csv", set(mapping.values()), ignored)


def _unreadable_csv(path: Path, error: Exception) -> UnreadableFileError:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return UnreadableFileError(f"cannot parse {path.name} as CSV: {first}")


def _require_some_field(path: Path, fields, columns) -> None:
    """A table with none of the required fields is not a report file: say so once, not per row."""
    if not set(fields) & set(REQUIRED):
        shown = ", ".join(str(c) for c in list(columns)[:8])
        raise UnreadableFileError(
            f"{path.name} has no report columns (found: {shown}); name them lat, lon, carrier, kind, "
            "observed_at (see docs/INPUT.md)"
        )


# --- JSON ---------------------------------------------------------------------------------

def _read_json(cur: duckdb.DuckDBPyConnection, path: Path, fmt: str, size: int, head: bytes) -> RawInfo:
    """Table ``raw_records`` filled a batch of records at a time (ingest.json_stream): the document
    is never parsed whole. Text that is not UTF-8 is read again as CP949."""
    if size > MAX_JSON_BYTES:
        raise UnreadableFileError("JSON larger than 512 MB; split it into smaller files")
    for encoding in encodings_to_try(head):
        try:
            return _json_batches(cur, path, fmt, json_stream.text_pieces(path, encoding))
        except UnicodeDecodeError:
            continue
    raise UnreadableFileError(NOT_TEXT)


def _json_batches(cur: duckdb.DuckDBPyConnection, path: Path, fmt: str, pieces) -> RawInfo:
    ingest_sql.records_table(cur, FIELDS)
    bad: list[tuple[int, str]] = []
    if fmt == "jsonl":
        numbered = _good(json_stream.lines(pieces), bad)
    else:
        document = json_stream.Document(pieces, _feature_record)
        numbered = _good(((n, record, why) for n, (record, why) in enumerate(document, start=1)), bad)
    present: set[str] = set()
    ignored: dict[str, None] = {}
    seen = 0
    while batch := list(islice(numbered, json_stream.BATCH)):
        seen += len(batch)
        frame, names = records_to_fields([record for _, record in batch])
        ignored.update(dict.fromkeys(names))
        present.update(frame.columns)
        frame["row"] = np.array([n for n, _ in batch], dtype=np.int64)
        ingest_sql.append_records(cur, frame)
    if fmt != "jsonl":
        fmt = "geojson" if document.geojson else "json"
    if seen:
        _require_some_field(path, present, list(ignored))
    fields = [f for f in FIELDS if f in present]
    ingest_sql.frame_raw_view(cur, "raw_records", fields)
    return RawInfo(fmt, set(fields), list(ignored), bad)


def _good(numbered, bad: list[tuple[int, str]]):
    """(number, record) of the records; the others' (number, why) go to ``bad`` (blank lines nowhere)."""
    for number, record, why in numbered:
        if why:
            bad.append((number, why))
        elif record is not None:
            yield number, record


def _is_geojson(doc) -> bool:
    return isinstance(doc, dict) and doc.get("type") in ("FeatureCollection", "Feature")


def records_from_json(doc) -> tuple[list[dict], list[tuple[int, str]]]:
    """Flat records from a report object, a list of them, or a GeoJSON Feature(Collection).

    Returns (records, problems). Records keep their places (record n is item n);
    an item that is no report (not an object, a feature without a Point) becomes
    ``{}`` and gets a problem (n, why), so callers can reject it by number.
    """
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise UnreadableFileError("FeatureCollection without a 'features' list")
        items = [_feature_record(f) for f in features]
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        items = [_feature_record(doc)]
    elif isinstance(doc, dict):
        items = [(doc, None)]
    elif isinstance(doc, list):
        items = [(r, None) if isinstance(r, dict) else ({}, "not a JSON object") for r in doc]
    else:
        raise UnreadableFileError("expected a JSON object, a list of objects or a GeoJSON FeatureCollection")
    records = [record for record, _ in items]
    problems = [(n, why) for n, (_, why) in enumerate(items, start=1) if why]
    return records, problems


def _feature_record(feature) -> tuple[dict, str | None]:
    if not isinstance(feature, dict):
        return {}, "not a GeoJSON Feature object"
    props = feature.get("properties") if isinstance(feature.get("properties"), dict) else {}
    record = {k: v for k, v in props.items() if k not in ("lat", "lon", "latitude", "longitude", "lng")}
    geometry = feature.get("geometry")
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind != "Point":
        return {}, f"geometry must be a Point with [lon, lat] (got {str(kind)[:30] if kind else 'none'})"
    coords = geometry.get("coordinates")
    if not (isinstance(coords, list) and len(coords) >= 2):
        return {}, "Point coordinates must be [lon, lat]"
    record["lon"], record["lat"] = coords[0], coords[1]  # RFC 7946: [lon, lat]
    return record, None


def records_to_fields(records: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """Field-named text columns of records whose keys may differ (lat in one, latitude in the next).

    A field's value is the first of its columns (in order of first appearance) that the record
    has and that is not null. Plain object columns of str/None: building pandas' string arrays
    cost more than the whole quick path of a single report (ingest.validate reads either kind).
    """
    fields, ignored = records_to_columns(records)
    return pd.DataFrame(fields, index=range(len(records)), dtype=object), ignored


def records_to_columns(records: list[dict]) -> tuple[dict[str, list], list[str]]:
    """``records_to_fields`` as plain lists, field -> one value (str or None) per record.

    What the report API hands to ingest.submit: for a few reports a DataFrame costs more than
    checking them (the loader builds one only when they need the full checks).
    """
    keys = list(dict.fromkeys(str(key) for record in records for key in record))
    by_field, ignored = columns_by_field(keys)
    texts = [record if all(isinstance(k, str) for k in record) else {str(k): v for k, v in record.items()}
             for record in records]
    fields = {}
    for name, columns in by_field.items():
        if len(columns) == 1:
            column = columns[0]
            fields[name] = [_scalar_text(record.get(column)) for record in texts]
            continue
        values = []
        for record in texts:
            value = None
            for column in columns:
                value = _scalar_text(record.get(column))
                if value is not None:
                    break
            values.append(value)
        fields[name] = values
    return fields, ignored


def _scalar_text(value):
    if value is None or type(value) is str:
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)[:200]
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


# --- as a DataFrame ------------------------------------------------------------------------

def read_file(path: Path, fmt: str = "auto") -> RawRows:
    """Read ``path`` in format ``fmt`` (or the detected one) into raw rows (a DataFrame of text)."""
    cur = ingest_sql.scratch_cursor()
    try:
        info = read_into_raw(cur, Path(path), fmt)
        table = ingest_sql.raw_frame(cur)
    finally:
        cur.close()
    rows = table.pop("row").to_numpy(dtype=np.int64)
    return RawRows(table, rows, info.fmt, info.ignored_columns, info.unparsed)
