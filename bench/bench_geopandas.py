"""geopandas against the plain shapely / pyarrow code, where geopandas would be the natural tool.

    .venv/bin/python bench/bench_geopandas.py [--points 200000] [--hours 24] [--repeat 5]

Three cases, each measured ``--repeat`` times (the median is reported):

  (a) reading the shipped boundaries (data/seoul_gu.geojson + seoul_dong.geojson): ``json`` + ``shapely.shape``
      (what geo.places did) against ``geopandas.read_file`` (pyogrio, what it does now): warm, and the first
      read in a fresh interpreter that has pandas and shapely loaded, imports included (a process pays it once);
  (b) the spatial join of points to districts: ``shapely.STRtree.query(predicate="within")`` (geo.places
      queries the GeoDataFrame's ``sindex``, the same STRtree) against ``geopandas.sjoin``, answers compared;
  (c) writing GeoParquet of res-9 hexes x hours x networks: the WKB column added per Arrow batch
      (geo.export.write_geoparquet's method) against ``GeoDataFrame.to_parquet``.

Prints one JSON object. Results belong in docs/BENCHMARKS.md, "geopandas or not".
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import DATA_DIR  # noqa: E402

FILES = (DATA_DIR / "seoul_gu.geojson", DATA_DIR / "seoul_dong.geojson")


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


_FIRST_READS = {
    "json+shapely": "[[shapely.geometry.shape(f['geometry']) for f in json.loads(open(p, encoding='utf-8').read())"
                    "['features']] for p in FILES]",
    "geopandas.read_file": "import geopandas; [geopandas.read_file(p) for p in FILES]",
}


def _first_read_ms(how: str, repeat: int) -> float:
    """A fresh interpreter that already has pandas and shapely loaded (every page has): the first read of
    the boundaries, imports included."""
    code = (f"import time, json, pandas, shapely; FILES = {[str(p) for p in FILES]!r}; t = time.perf_counter(); "
            f"{_FIRST_READS[how]}; print((time.perf_counter() - t) * 1000)")
    return round(statistics.median(float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                                        text=True, check=True).stdout) for _ in range(repeat)), 1)


def read_plain() -> list[list]:
    out = []
    for path in FILES:
        doc = json.loads(path.read_text(encoding="utf-8"))
        out.append([shapely.geometry.shape(f["geometry"]) for f in doc["features"]])
    return out


def read_geopandas():
    import geopandas as gpd

    return [gpd.read_file(path) for path in FILES]


def case_boundaries(repeat: int) -> dict:
    import geopandas  # noqa: F401  (warm: the cold import is measured apart)

    return {
        "first_read_ms": {how: _first_read_ms(how, repeat) for how in _FIRST_READS},
        "read_ms": {"json+shapely": _median_ms(read_plain, repeat),
                    "geopandas.read_file": _median_ms(read_geopandas, repeat)},
    }


def case_join(points: int, repeat: int) -> dict:
    import geopandas as gpd

    rng = np.random.default_rng(20211025)
    lat = rng.uniform(37.42, 37.70, points)
    lon = rng.uniform(126.76, 127.19, points)
    shapes = read_plain()[0]
    districts = gpd.read_file(FILES[0])

    def plain() -> np.ndarray:
        tree = shapely.STRtree(shapes)
        out = np.full(points, -1, dtype=np.int64)
        point_idx, area_idx = tree.query(shapely.points(lon, lat), predicate="within")
        out[point_idx] = area_idx
        return out

    def with_geopandas() -> np.ndarray:
        frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=districts.crs)
        joined = gpd.sjoin(frame, districts[["geometry"]], predicate="within", how="left")
        joined = joined[~joined.index.duplicated()]
        return joined["index_right"].fillna(-1).astype(np.int64).to_numpy()

    same = bool((plain() == with_geopandas()).all())
    return {"points": points, "same_answer": same,
            "join_ms": {"shapely.STRtree": _median_ms(plain, repeat), "geopandas.sjoin": _median_ms(with_geopandas,
                                                                                                  repeat)}}


def _hexes(hours: int) -> tuple[pd.DataFrame, list[str]]:
    cells = sorted(h3.geo_to_cells(shapely.union_all(read_plain()[0]).__geo_interface__, 9))
    frame = pd.DataFrame({"h3_cell": np.repeat(cells, hours * 3),
                          "network": np.tile(np.repeat(["KT", "LGU+", "SKT"], hours), len(cells)),
                          "hour": np.tile(np.arange(hours, dtype=np.int8), 3 * len(cells))})
    frame["failures"] = np.arange(len(frame), dtype=np.int64) % 97
    return frame, cells


def case_geoparquet(hours: int, repeat: int) -> dict:
    import geopandas as gpd
    from shapely.geometry import Polygon
    from shapely.geometry.polygon import orient

    frame, cells = _hexes(hours)
    basic = h3.api.basic_int
    polygons = [orient(Polygon([(x, y) for y, x in basic.cell_to_boundary(basic.str_to_int(c))]), sign=1.0)
                for c in cells]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    out = Path(tempfile.mkdtemp())

    def plain() -> None:
        wkb = pa.array(shapely.to_wkb(np.array(polygons, dtype=object)), type=pa.binary())
        positions = pd.Index(cells)
        schema = table.schema.append(pa.field("geometry", pa.binary())).with_metadata({b"geo": b"{}"})
        with pq.ParquetWriter(str(out / "plain.parquet"), schema, compression="zstd") as writer:
            for batch in table.to_batches(100_000):
                index = positions.get_indexer(batch.column("h3_cell").to_pandas())
                writer.write_batch(pa.RecordBatch.from_arrays(
                    [*batch.columns, wkb.take(pa.array(index, type=pa.int64()))], schema=schema))

    def with_geopandas() -> None:
        by_cell = dict(zip(cells, polygons, strict=True))
        gdf = gpd.GeoDataFrame(frame, geometry=[by_cell[c] for c in frame["h3_cell"]], crs="OGC:CRS84")
        gdf.to_parquet(out / "gpd.parquet", compression="zstd", index=False)

    return {"rows": len(frame), "cells": len(cells),
            "write_ms": {"pyarrow batches + WKB take": _median_ms(plain, repeat),
                         "GeoDataFrame.to_parquet": _median_ms(with_geopandas, repeat)},
            "bytes": {"pyarrow batches + WKB take": (out / "plain.parquet").stat().st_size,
                      "GeoDataFrame.to_parquet": (out / "gpd.parquet").stat().st_size}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import geopandas
    import pyogrio

    print(json.dumps({"geopandas": geopandas.__version__, "pyogrio": pyogrio.__version__,
                      "shapely": shapely.__version__,
                      "boundaries": case_boundaries(args.repeat), "join": case_join(args.points, args.repeat),
                      "geoparquet": case_geoparquet(args.hours, args.repeat)}, indent=1))


if __name__ == "__main__":
    main()
