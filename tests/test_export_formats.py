"""Export formats: round trips through geopandas and DuckDB, GeoJSON/GeoParquet rules, CSV safety, manifests."""

from __future__ import annotations

import hashlib
import json

import duckdb
import geopandas as gpd
import h3
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from opendata_data import known_rows, load, random_rows
from shapely.geometry import Point, shape

from geo import export as export_module
from geo.aggregate import ExportQuery, build
from geo.export import FORMATS, export, manifest_path
from store import aggregate_sql

KEYS = ["h3_cell", "network", "hour", "kind"]
COUNTS = ["reports", "reporters", "ok_samples", "ok_reporters", "observations"]
RATES = ["failure_rate", "rate_low", "rate_high", "center_lat", "center_lon", "area_km2"]
QUERY = ExportQuery(res=8, by="hour")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One small store for the module (exports only read it)."""
    from store.db import connect

    con = connect(tmp_path_factory.mktemp("formats") / "formats.duckdb")
    load(con, known_rows())
    load(con, random_rows(seed=3, n=2500, reporters=30))
    yield con
    con.close()


@pytest.fixture
def expected(store) -> pd.DataFrame:
    frame = build(store.cursor(), QUERY).frame()
    assert len(frame) > 20 and frame.reports.isna().any() and frame.failure_rate.notna().any()
    return frame


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values(KEYS).reset_index(drop=True)
    want = want.sort_values(KEYS).reset_index(drop=True)
    assert list(got.h3_cell) == list(want.h3_cell)
    assert list(got.network) == list(want.network) and list(got.kind) == list(want.kind)
    assert list(got.hour.astype(int)) == list(want.hour.astype(int))
    for column in COUNTS:
        assert list(got[column].isna()) == list(want[column].isna()), column
        assert list(got[column].dropna().astype(int)) == list(want[column].dropna().astype(int)), column
    for column in RATES:
        assert got[column].astype(float).to_numpy() == pytest.approx(want[column].astype(float).to_numpy(),
                                                                     nan_ok=True, rel=1e-9), column
    assert list(got.is_synthetic.astype(str).str.lower()) == list(want.is_synthetic.astype(str).str.lower())


@pytest.mark.parametrize("fmt", FORMATS)
def test_manifest_describes_the_file(store, tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    manifest = export(store.cursor(), QUERY, fmt, path)
    assert json.loads(manifest_path(path).read_text()) == manifest
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["bytes"] == path.stat().st_size
    assert manifest["licence"]["name"] == "CC BY 4.0" and manifest["data_dictionary"] == "docs/DATA.md"
    assert manifest["query"] == {"res": 8, "by": "hour", "carrier": None, "since": None, "until": None,
                                 "demo": "include"}
    assert manifest["period"]["since"] == "2021-10-11" and manifest["period"]["until"] == "2021-10-24"
    assert manifest["k_min_reporters"] == 5 and manifest["synthetic"] is False
    assert manifest["generated_at"].endswith("+00:00")
    assert [c["name"] for c in manifest["columns"]][:3] == ["h3_cell", "resolution", "center_lat"]
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_private_text_in_any_file(store, tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    export(store.cursor(), QUERY, fmt, path)
    data = path.read_bytes()
    for secret in (b"HYPERLINK", b"SUM(1", b"evil.example"):
        assert secret not in data
    if fmt in ("parquet", "geoparquet"):
        names = set(pq.read_schema(path).names)
        assert not names & {"lat", "lon", "note", "reporter", "reporter_code", "ip_hash", "device_model"}


def test_csv_round_trip(store, expected, tmp_path):
    path = tmp_path / "out.csv"
    manifest = export(store.cursor(), QUERY, "csv", path)
    text = path.read_bytes().decode("utf-8")
    assert text.splitlines()[0].startswith("h3_cell,resolution,center_lat,center_lon,area_km2,network,hour,kind")
    got = pd.read_csv(path)
    assert got.h3_cell.map(type).eq(str).all()  # the hex id stays text
    assert len(got) == manifest["rows"] == len(expected)
    _same(got, expected)
    _same(duckdb.sql(f"SELECT * FROM read_csv('{path}')").df(), expected)
    # GDAL's CSV driver (what QGIS uses to add a delimited-text layer), with points at the cell centres.
    layer = gpd.read_file(path, X_POSSIBLE_NAMES="center_lon", Y_POSSIBLE_NAMES="center_lat",
                          KEEP_GEOM_COLUMNS="NO")
    assert len(layer) == len(expected) and layer.geometry.x.between(126.5, 127.5).all()
    assert list(layer.sort_values(KEYS).h3_cell) == list(expected.sort_values(KEYS).h3_cell)


@pytest.mark.parametrize("fmt", ["parquet", "geoparquet"])
def test_parquet_round_trip(store, expected, tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    export(store.cursor(), QUERY, fmt, path)
    _same(pd.read_parquet(path), expected)
    _same(duckdb.sql(f"SELECT * FROM read_parquet('{path}')").df(), expected)


def test_geoparquet_is_read_by_geopandas_with_cell_polygons(store, expected, tmp_path):
    path = tmp_path / "out_geo.parquet"
    export(store.cursor(), QUERY, "geoparquet", path)
    frame = gpd.read_parquet(path)
    assert frame.crs.to_string() == "OGC:CRS84"
    _same(pd.DataFrame(frame.drop(columns="geometry")), expected)
    geo = json.loads(pq.read_schema(path).metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB" and column["geometry_types"] == ["Polygon"]
    assert "crs" not in column and column["orientation"] == "counterclockwise"
    minx, miny, maxx, maxy = column["bbox"]
    assert (minx, miny, maxx, maxy) == pytest.approx(frame.total_bounds)
    for _, row in frame.drop_duplicates("h3_cell").iterrows():
        ring = row.geometry.exterior
        assert ring.is_ccw and len(ring.coords) == 7
        assert row.geometry.contains(Point(row.center_lon, row.center_lat))
        expected_ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(row.h3_cell)]
        assert shapely.Polygon(expected_ring).equals(row.geometry)


def test_geoparquet_streams_in_batches(store, expected, tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "BATCH_ROWS", 7)  # many small batches: geometry must follow its rows
    path = tmp_path / "small_batches_geo.parquet"
    export(store.cursor(), QUERY, "geoparquet", path)
    frame = gpd.read_parquet(path)
    assert pq.ParquetFile(path).metadata.num_rows == len(expected)
    assert all(geom.contains(Point(lon, lat))
               for geom, lat, lon in zip(frame.geometry, frame.center_lat, frame.center_lon, strict=True))


def test_geojson_follows_rfc_7946(store, expected, tmp_path):
    path = tmp_path / "out.geojson"
    export(store.cursor(), QUERY, "geojson", path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["type"] == "FeatureCollection" and "crs" not in document
    assert document["metadata"]["licence"]["name"] == "CC BY 4.0"
    assert len(document["features"]) == len(expected)
    for feature in document["features"]:
        geometry = feature["geometry"]
        assert geometry["type"] == "Polygon" and len(geometry["coordinates"]) == 1
        ring = geometry["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 7
        # [lon, lat]: Seoul's longitudes are near 127, its latitudes near 37.5.
        assert all(126.5 < lon < 127.5 and 37.3 < lat < 37.8 for lon, lat in ring)
        polygon = shape(geometry)
        assert polygon.exterior.is_ccw
        props = feature["properties"]
        assert polygon.contains(Point(props["center_lon"], props["center_lat"]))
        assert isinstance(props["h3_cell"], str)
    got = gpd.read_file(path)
    assert got.crs.to_epsg() == 4326
    _same(pd.DataFrame(got.drop(columns="geometry")), expected)
    via_duckdb = duckdb.sql(f"SELECT unnest(f.properties) FROM (SELECT unnest(features) AS f "
                            f"FROM read_json('{path}', maximum_object_size=100000000))").df()
    _same(via_duckdb, expected)


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_exports_are_valid_files(con, tmp_path, fmt):
    path = tmp_path / f"empty.{fmt}"
    manifest = export(con.cursor(), QUERY, fmt, path)
    assert manifest["rows"] == 0 and manifest["period"] is None
    if fmt == "csv":
        assert path.read_text().startswith("h3_cell,")
    elif fmt == "geojson":
        assert json.loads(path.read_text())["features"] == []
    else:
        assert pq.read_table(path).num_rows == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_other_buckets_export(store, tmp_path, fmt):
    for by in ("weekday_hour", "date"):
        path = tmp_path / f"{by}.{fmt}"
        manifest = export(store.cursor(), ExportQuery(res=9, by=by), fmt, path)
        assert manifest["rows"] == build(store.cursor(), ExportQuery(res=9, by=by)).rows


# --- CSV injection --------------------------------------------------------------------

PAYLOADS = [
    ("=1+1", "'=1+1"),
    ("+SUM(A1)", "'+SUM(A1)"),
    ("-2+3", "'-2+3"),
    ("@SUM(1+1)", "'@SUM(1+1)"),
    ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("LGU+", "LGU+"),
    ("8830e1d8c1fffff", "8830e1d8c1fffff"),
    ("a=b", "a=b"),
    ("통화 끊김", "통화 끊김"),
]


def test_csv_neutralises_formula_payloads(con, tmp_path):
    path = tmp_path / "payloads.csv"
    values = ", ".join("(?, ?)" for _ in PAYLOADS)
    params = [v for i, (payload, _) in enumerate(PAYLOADS) for v in (i, payload)]
    aggregate_sql.write_csv(con.cursor(), f"SELECT * FROM (VALUES {values}) t(n, text) ORDER BY n", params,
                            str(path))
    got = pd.read_csv(path, keep_default_na=False).sort_values("n")
    assert list(got.text) == [want for _, want in PAYLOADS]
    assert not any(str(v)[:1] in "=+-@\t\r" for v in got.text)
