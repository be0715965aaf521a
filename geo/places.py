"""Names for places: district (gu), neighbourhood (legal dong) and nearest subway station.

Boundaries are the simplified JUSO 2015 files in data/ (see data/ATTRIBUTION.md).
Districts are assigned by the centre of a report's res-9 cell (about 174 m
across), so a report within ~200 m of a district border may be counted in the
neighbouring district; the unique cells of a batch are few, so this is cheap.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache

import h3
import numpy as np
import shapely

from core.settings import DATA_DIR


@dataclass(frozen=True)
class Area:
    code: str
    name_ko: str
    name_en: str


@dataclass(frozen=True)
class Station:
    name: str
    lines: tuple[str, ...]
    lat: float
    lon: float
    gu: str


_BOUNDARY_FILES = {
    "gu": ("seoul_gu.geojson", "SIG_CD", "SIG_KOR_NM", "SIG_ENG_NM"),
    "dong": ("seoul_dong.geojson", "EMD_CD", "EMD_KOR_NM", "EMD_ENG_NM"),
}


@lru_cache(maxsize=2)
def _boundaries(kind: str):
    # geopandas (pyogrio) reads the files faster than json + shapely.shape and gives the very same
    # coordinates; its import costs ~0.1 s once per process, so it waits for the first lookup
    # (bench/bench_geopandas.py, docs/BENCHMARKS.md "geopandas or not").
    import geopandas as gpd

    return gpd.read_file(DATA_DIR / _BOUNDARY_FILES[kind][0])


def boundaries(kind: str):
    """The shipped boundaries as a GeoDataFrame in file order (lon/lat): ``"gu"``, Seoul's 25 districts
    (SIG_CD, SIG_KOR_NM, SIG_ENG_NM), or ``"dong"``, its legal neighbourhoods (EMD_CD, EMD_KOR_NM, EMD_ENG_NM)."""
    return _boundaries(kind).copy()


@lru_cache(maxsize=2)
def _areas(kind: str) -> tuple[list[Area], object]:
    """The areas and the spatial index of their shapes (the frame's STRtree)."""
    _, code, ko, en = _BOUNDARY_FILES[kind]
    frame = _boundaries(kind)
    areas = [Area(str(c), k, e) for c, k, e in zip(frame[code], frame[ko], frame[en], strict=True)]
    return areas, frame.sindex


def districts() -> list[Area]:
    """Seoul's 25 districts (자치구), in file order."""
    return list(_areas("gu")[0])


def district_by_code(code: str) -> Area | None:
    return next((a for a in districts() if a.code == code), None)


def _points_to_areas(kind: str, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Index into the area list for each point, or -1 outside every area."""
    tree = _areas(kind)[1]
    points = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points):
        point_idx, area_idx = tree.query(points, predicate="within")
        out[point_idx] = area_idx
    return out


def points_to_district_codes(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """District code (SIG_CD, e.g. '11110') of each point; None outside Seoul."""
    areas = _areas("gu")[0]
    idx = _points_to_areas("gu", lat, lon)
    codes = np.array([a.code for a in areas] + [None], dtype=object)
    return codes[idx]


def cells_to_district_codes(cells: np.ndarray) -> np.ndarray:
    """District code of each cell's centre (computed once per distinct cell)."""
    cells = np.asarray(cells, dtype=np.uint64)
    uniques, inverse = np.unique(cells, return_inverse=True)
    centres = [h3.api.basic_int.cell_to_latlng(int(c)) for c in uniques]
    lat = np.array([c[0] for c in centres], dtype=float)
    lon = np.array([c[1] for c in centres], dtype=float)
    return points_to_district_codes(lat, lon)[inverse] if len(uniques) else np.array([], dtype=object)


def place_of(lat: float, lon: float) -> dict:
    """District, neighbourhood and nearest station of one point (names only; for display)."""
    gu_idx = _points_to_areas("gu", np.array([lat]), np.array([lon]))[0]
    dong_idx = _points_to_areas("dong", np.array([lat]), np.array([lon]))[0]
    gu = _areas("gu")[0][gu_idx] if gu_idx >= 0 else None
    dong = _areas("dong")[0][dong_idx] if dong_idx >= 0 else None
    station, metres = nearest_station(lat, lon)
    return {"gu": gu, "dong": dong, "station": station, "station_m": metres}


@lru_cache(maxsize=1)
def stations() -> list[Station]:
    """Subway stations (lines 1-9 run by 서울교통공사 and line 9), one entry per name."""
    by_name: dict[str, dict] = {}
    with open(DATA_DIR / "seoul_subway_stations.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            entry = by_name.setdefault(row["name"], {"lines": [], "lat": float(row["lat"]),
                                                     "lon": float(row["lon"]), "gu": row["gu"]})
            entry["lines"].append(row["line_name"])
    return [Station(name, tuple(e["lines"]), e["lat"], e["lon"], e["gu"]) for name, e in by_name.items()]


def nearest_station(lat: float, lon: float) -> tuple[Station, float]:
    """The nearest station and its distance in metres (haversine)."""
    all_stations = stations()
    lats = np.radians([s.lat for s in all_stations])
    lons = np.radians([s.lon for s in all_stations])
    la, lo = np.radians(lat), np.radians(lon)
    a = np.sin((lats - la) / 2) ** 2 + np.cos(la) * np.cos(lats) * np.sin((lons - lo) / 2) ** 2
    metres = 2 * 6_371_000 * np.arcsin(np.sqrt(a))
    best = int(np.argmin(metres))
    return all_stations[best], float(metres[best])
