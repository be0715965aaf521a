"""Writers for the hex aggregates: CSV, Parquet, GeoParquet, GeoJSON, each with a manifest.

CSV and Parquet are written by DuckDB itself (COPY ... TO), GeoParquet and
GeoJSON from Arrow record batches with each cell's boundary added per batch,
so a large export is streamed to disk and never held twice in memory. A file
is written under a temporary name and renamed into place, so a client
fetching a snapshot URL never sees half a file.

``export(cur, query, fmt, path)`` writes PATH and PATH.manifest.json.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from shapely.geometry import Polygon
from shapely.geometry.polygon import orient

from core.cellkey import MAX_NOISE
from core.city import load_city
from core.errors import InputError
from core.files import sha256_of
from geo.aggregate import AGGREGATES, PERIOD_NOTES, RESOLVE, Aggregate, ExportQuery, build
from geo.datadict import COLUMNS
from store import aggregate_sql

FORMATS: tuple[str, ...] = ("csv", "parquet", "geoparquet", "geojson")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "geoparquet": "application/vnd.apache.parquet",
    "geojson": "application/geo+json",
}
# GeoParquet files are Parquet files; readers find the geometry through the 'geo' metadata, not the name.
SUFFIXES = {"csv": ".csv", "parquet": ".parquet", "geoparquet": "_geo.parquet", "geojson": ".geojson"}

LICENCE = {
    "name": "CC BY 4.0",
    "url": "https://creativecommons.org/licenses/by/4.0/",
    "attribution": "DropMap (끊김지도) contributors",
}
DATA_DICTIONARY = "docs/DATA.md"
SOFTWARE = "dropmap 0.1.0"
_COORD_DIGITS = 7  # about 1 cm: more digits would only claim a precision the cells do not have
BATCH_ROWS = 100_000  # rows per Arrow batch when adding geometry: bounds memory, keeps writes large


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError("format", fmt, f"use one of {', '.join(FORMATS)}")
    return fmt


# --- cell geometry ---------------------------------------------------------------


def cell_polygons(h3_cells: list[str]) -> list[Polygon]:
    """Each cell's boundary as a lon/lat polygon with a counter-clockwise ring (RFC 7946)."""
    basic = h3.api.basic_int
    polygons = []
    for text in h3_cells:
        ring = [(lng, lat) for lat, lng in basic.cell_to_boundary(basic.str_to_int(text))]
        polygons.append(orient(Polygon(ring), sign=1.0))
    return polygons


def _geo_metadata(polygons: list[Polygon]) -> dict:
    column = {"encoding": "WKB", "geometry_types": ["Polygon"], "orientation": "counterclockwise",
              "edges": "planar"}
    if polygons:
        bounds = shapely.bounds(np.array(polygons, dtype=object))
        column["bbox"] = [float(bounds[:, 0].min()), float(bounds[:, 1].min()),
                          float(bounds[:, 2].max()), float(bounds[:, 3].max())]
    # No "crs": GeoParquet then means OGC:CRS84 (WGS84, lon/lat), which is what we write.
    return {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}


def _cell_positions(agg: Aggregate) -> pd.Index:
    return pd.Index(agg.cells["h3_cell"])


# --- writers -----------------------------------------------------------------------


def write_csv(agg: Aggregate, path: Path, *, limit: int | None = None, offset: int = 0) -> None:
    aggregate_sql.write_csv(agg.cursor, *agg.sql(limit=limit, offset=offset), str(path))


def write_parquet(agg: Aggregate, path: Path, *, limit: int | None = None, offset: int = 0) -> None:
    aggregate_sql.write_parquet(agg.cursor, *agg.sql(limit=limit, offset=offset), str(path))


def write_geoparquet(agg: Aggregate, path: Path, *, limit: int | None = None, offset: int = 0) -> None:
    """Parquet plus a WKB ``geometry`` column and GeoParquet 1.1 ``geo`` metadata."""
    polygons = cell_polygons(agg.cells["h3_cell"].tolist())
    wkb = pa.array(shapely.to_wkb(np.array(polygons, dtype=object)) if polygons else [], type=pa.binary())
    positions = _cell_positions(agg)
    reader = aggregate_sql.arrow_batches(agg.cursor, *agg.sql(limit=limit, offset=offset), BATCH_ROWS)
    schema = reader.schema.append(pa.field("geometry", pa.binary()))
    schema = schema.with_metadata({b"geo": json.dumps(_geo_metadata(polygons)).encode("utf-8")})
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        for batch in reader:
            index = positions.get_indexer(batch.column("h3_cell").to_pandas())
            geometry = wkb.take(pa.array(index, type=pa.int64()))
            writer.write_batch(pa.RecordBatch.from_arrays([*batch.columns, geometry], schema=schema))


def write_geojson(agg: Aggregate, path: Path, *, limit: int | None = None, offset: int = 0,
                  metadata: dict | None = None) -> None:
    """An RFC 7946 FeatureCollection: lon/lat, counter-clockwise rings, no ``crs`` member."""
    polygons = cell_polygons(agg.cells["h3_cell"].tolist())
    rings = {
        text: [[[round(x, _COORD_DIGITS), round(y, _COORD_DIGITS)] for x, y in poly.exterior.coords]]
        for text, poly in zip(agg.cells["h3_cell"], polygons, strict=True)
    }
    reader = aggregate_sql.arrow_batches(agg.cursor, *agg.sql(limit=limit, offset=offset), BATCH_ROWS)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"type": "FeatureCollection",')
        if metadata:
            # A foreign member (RFC 7946 section 6.1): readers that do not know it ignore it.
            fh.write(' "metadata": ' + json.dumps(metadata, ensure_ascii=False) + ",")
        fh.write(' "features": [\n')
        first = True
        for batch in reader:
            for row in batch.to_pylist():
                feature = {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": rings[row["h3_cell"]]},
                    "properties": {key: _json_value(value) for key, value in row.items()},
                }
                fh.write(("" if first else ",\n") + json.dumps(feature, ensure_ascii=False, allow_nan=False))
                first = False
        fh.write("\n]}\n")


def _json_value(value):
    if isinstance(value, date):
        return value.isoformat()
    return value


WRITERS = {"csv": write_csv, "parquet": write_parquet, "geoparquet": write_geoparquet, "geojson": write_geojson}


# --- manifest and the whole export -------------------------------------------------


def describe(agg: Aggregate, *, generated_at: datetime, rows: int) -> dict:
    """The metadata every download carries, without the file's own name and digest."""
    period = agg.period
    synthetic = agg.has_synthetic()
    return {
        "dataset": "DropMap (끊김지도) hex aggregates: mobile-network failure reports in Seoul",
        "licence": LICENCE,
        "data_dictionary": DATA_DICTIONARY,
        "generated_at": generated_at.astimezone(UTC).isoformat(timespec="seconds"),
        "query": agg.query.as_params(),
        "period": None if period is None else {
            "since": period.since.isoformat(), "until": period.until.isoformat(), "days": period.days,
            "timezone": load_city().timezone, "notes": [PERIOD_NOTES[n][1] for n in period.notes],
        },
        "rows": rows,
        "k_min_reporters": agg.k,
        "suppression": (f"every figure comes from at least {agg.k} distinct reporters or is zero; "
                        "suppressed figures are empty; see the data dictionary"),
        "perturbation": (f"every count moves by at most {MAX_NOISE} (never below k, never away from 0), "
                         "the same amount whenever the same reports are counted (cell-key noise); "
                         "rates are computed from the counts shown; see the data dictionary"),
        "synthetic": synthetic,
        "synthetic_note": ("contains SYNTHETIC demo data (rows with is_synthetic = true), not real reports"
                           if synthetic else "no synthetic demo data"),
        "columns": [{"name": name, "type": COLUMNS[name][0], "unit": COLUMNS[name][1]}
                    for name in agg.columns],
        "crs": "OGC:CRS84 (WGS84 longitude/latitude)",
        "software": SOFTWARE,
    }


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def export(cur, query: ExportQuery, fmt: str, path: str | Path, *, today: date | None = None,
           period=RESOLVE, now: datetime | None = None) -> dict:
    """Write the aggregate for ``query`` to ``path`` in ``fmt`` plus PATH.manifest.json; returns the manifest."""
    check_format(fmt)
    agg = build(cur, query, today=today, period=period)
    return write_export(agg, fmt, path, now=now)


def write_export(agg: Aggregate, fmt: str, path: str | Path, *, now: datetime | None = None) -> dict:
    """Write a built aggregate to ``path`` (atomically) and PATH.manifest.json; returns the manifest."""
    check_format(fmt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = describe(agg, generated_at=now or datetime.now(UTC), rows=agg.rows)
    if fmt in ("geoparquet", "geojson"):
        manifest["geometry"] = ("geometry: WKB polygon with GeoParquet 1.1 metadata" if fmt == "geoparquet"
                                else "RFC 7946 Polygon, counter-clockwise exterior ring")
    partial = path.with_name(f".{path.name}.partial")
    try:
        if fmt == "geojson":
            write_geojson(agg, partial, metadata=inline_metadata(manifest))
        else:
            WRITERS[fmt](agg, partial)
        manifest = {"file": path.name, "format": fmt, "media_type": MEDIA_TYPES[fmt],
                    "bytes": partial.stat().st_size, "sha256": sha256_of(partial), **manifest}
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    write_json_atomically(manifest_path(path), manifest)
    return manifest


def inline_metadata(manifest: dict) -> dict:
    """The part of a manifest that travels inside a GeoJSON file or an API answer."""
    keep = ("dataset", "licence", "data_dictionary", "generated_at", "query", "period", "k_min_reporters",
            "suppression", "perturbation", "synthetic", "synthetic_note")
    return {key: manifest[key] for key in keep}


def write_json_atomically(path: Path, value: dict) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def export_bytes(cur, query: ExportQuery, fmt: str, *, today: date | None = None) -> tuple[bytes, dict]:
    """The export as bytes plus its manifest (for the Downloads page), from the aggregate its preview
    and the hex API keep (geo.aggregate.AGGREGATES) when they built it on the same data."""
    check_format(fmt)
    agg = AGGREGATES.build(cur, query, today=today)
    with tempfile.TemporaryDirectory(prefix="dropmap-export-") as tmp:
        path = Path(tmp) / file_name(query, fmt)
        manifest = write_export(agg, fmt, path)
        return path.read_bytes(), manifest


def file_name(query: ExportQuery, fmt: str) -> str:
    """A descriptive file name, e.g. dropmap_r8_hour_kt_2021-09-27_2021-10-31.csv."""
    carrier = {"SKT": "skt", "KT": "kt", "LGU+": "lguplus", None: "all"}[query.carrier]
    parts = ["dropmap", f"r{query.res}", query.by, carrier]
    if query.since:
        parts.append(query.since.isoformat())
    if query.until:
        parts.append(query.until.isoformat())
    return "_".join(parts) + SUFFIXES[check_format(fmt)]
