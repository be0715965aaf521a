"""Where the synthetic city's people are: districts by population, crowds at subway stations.

Part of the demo generator (see ingest/demo.py and docs/DEMO.md). Places are
drawn from a mixture: uniform inside a district picked by its 2010 census
population, or close to a subway station (people wait, ride and transfer
there). Every place drawn lies inside Seoul's 25 districts.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache

import h3
import numpy as np
import shapely

from core.settings import DATA_DIR
from geo.places import boundaries, stations

METRES_PER_DEG_LAT = 111_320.0
METRES_PER_DEG_LON = METRES_PER_DEG_LAT * float(np.cos(np.radians(37.55)))  # at Seoul's latitude

# Districts with many offices (daytime "work" anchors are drawn more often there).
_JOB_WEIGHT = {
    "11140": 4.0,  # 중구
    "11110": 3.0,  # 종로구
    "11680": 4.0,  # 강남구
    "11650": 3.0,  # 서초구
    "11560": 3.0,  # 영등포구 (여의도)
    "11440": 2.0,  # 마포구
    "11710": 2.0,  # 송파구
    "11530": 2.0,  # 구로구 (G밸리)
    "11545": 2.0,  # 금천구 (G밸리)
    "11170": 1.5,  # 용산구
}


@dataclass(frozen=True)
class CityModel:
    """Seoul's districts and stations, ready for vectorised sampling."""

    gu_codes: tuple[str, ...]
    gu_names: tuple[str, ...]  # Korean names, e.g. '강남구'
    gu_shapes: tuple  # shapely polygons (lon, lat), prepared
    gu_population: np.ndarray
    seoul: object  # shapely union of the districts, prepared
    station_lat: np.ndarray
    station_lon: np.ndarray
    station_gu: np.ndarray  # index into gu_codes
    station_weight: np.ndarray  # share of station crowds (sums to 1)
    work_weight: np.ndarray  # share of daytime crowds per station (sums to 1)


def _populations() -> dict[str, float]:
    with open(DATA_DIR / "seoul_gu_population_2010.csv", encoding="utf-8") as fh:
        return {row["sig_cd"]: float(row["population"]) for row in csv.DictReader(fh)}


@lru_cache(maxsize=1)
def city_model() -> CityModel:
    """The model, built once per process from data/ (boundaries, census, stations)."""
    districts = boundaries("gu")
    shapes = list(districts.geometry)
    population = _populations()
    codes = tuple(str(c) for c in districts["SIG_CD"])
    names = tuple(districts["SIG_KOR_NM"])
    for shape in shapes:
        shapely.prepare(shape)
    seoul = shapely.union_all(shapes)
    shapely.prepare(seoul)
    pop = np.array([population[c] for c in codes], dtype=float)
    area_km2 = np.array([s.area for s in shapes]) * METRES_PER_DEG_LAT * METRES_PER_DEG_LON / 1e6

    by_name = {name: i for i, name in enumerate(names)}
    # Stations outside Seoul (or just outside the simplified boundary) are left out.
    inside = [s for s in stations() if s.gu in by_name and shapely.contains_xy(seoul, s.lon, s.lat)]
    gu_idx = np.array([by_name[s.gu] for s in inside])
    lines = np.array([len(s.lines) for s in inside], dtype=float)
    # Transfer stations are busier; stations in densely peopled districts too.
    crowd = (1.0 + 0.6 * (lines - 1.0)) * np.sqrt(pop / area_km2)[gu_idx]
    jobs = crowd * np.array([_JOB_WEIGHT.get(codes[g], 1.0) for g in gu_idx])
    return CityModel(
        gu_codes=codes, gu_names=names, gu_shapes=tuple(shapes), gu_population=pop, seoul=seoul,
        station_lat=np.array([s.lat for s in inside]), station_lon=np.array([s.lon for s in inside]),
        station_gu=gu_idx, station_weight=crowd / crowd.sum(), work_weight=jobs / jobs.sum(),
    )


def district_indices(names: list[str] | tuple[str, ...] | None) -> np.ndarray:
    """Indices of districts given by Korean name (e.g. '강남구'); all districts for None."""
    model = city_model()
    if names is None:
        return np.arange(len(model.gu_codes))
    from core.errors import InputError

    unknown = [n for n in names if n not in model.gu_names]
    if unknown or not names:
        raise InputError("districts", unknown or names,
                         f"use Korean district names such as {', '.join(model.gu_names[:3])}")
    return np.array([model.gu_names.index(n) for n in names])


def is_in_seoul(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    return shapely.contains_xy(city_model().seoul, lon, lat)


def uniform_in_districts(gu: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One uniform point inside district ``gu[i]`` for every i (rejection sampling)."""
    model = city_model()
    lat = np.empty(len(gu))
    lon = np.empty(len(gu))
    for g in np.unique(gu):
        where = np.flatnonzero(gu == g)
        shape = model.gu_shapes[g]
        x0, y0, x1, y1 = shape.bounds
        got_lat, got_lon = [], []
        need = len(where)
        while need > 0:
            draws = max(64, int(need * 2.5))
            x = rng.uniform(x0, x1, draws)
            y = rng.uniform(y0, y1, draws)
            keep = shapely.contains_xy(shape, x, y)
            got_lon.append(x[keep][:need])
            got_lat.append(y[keep][:need])
            need -= int(min(keep.sum(), need))
        lat[where] = np.concatenate(got_lat)
        lon[where] = np.concatenate(got_lon)
    return lat, lon


def scatter(lat: np.ndarray, lon: np.ndarray, sigma_m: float | np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points moved by a round Gaussian of ``sigma_m`` metres, redrawn when they leave Seoul.

    After a few tries a point that still lands outside stays where it was.
    """
    sigma = np.broadcast_to(np.asarray(sigma_m, dtype=float), np.shape(lat))
    out_lat, out_lon = np.array(lat, dtype=float), np.array(lon, dtype=float)
    todo = np.arange(len(out_lat))
    for _ in range(4):
        new_lat = out_lat[todo] + rng.normal(0.0, 1.0, len(todo)) * sigma[todo] / METRES_PER_DEG_LAT
        new_lon = out_lon[todo] + rng.normal(0.0, 1.0, len(todo)) * sigma[todo] / METRES_PER_DEG_LON
        inside = is_in_seoul(new_lat, new_lon)
        out_lat[todo[inside]], out_lon[todo[inside]] = new_lat[inside], new_lon[inside]
        todo = todo[~inside]
        if not len(todo):
            break
    return out_lat, out_lon


def near_stations(n: int, rng: np.random.Generator, *, work: bool = False,
                  gu_allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Points around subway stations (platform, exits, nearby streets: ~250 m)."""
    model = city_model()
    weight = model.work_weight if work else model.station_weight
    if gu_allowed is not None:
        weight = np.where(np.isin(model.station_gu, gu_allowed), weight, 0.0)
        if weight.sum() == 0:  # a district without a listed station: fall back to its area
            return uniform_in_districts(rng.choice(gu_allowed, n), rng)
        weight = weight / weight.sum()
    pick = rng.choice(len(weight), n, p=weight)
    sigma = np.where(rng.random(n) < 0.7, 120.0, 350.0)
    return scatter(model.station_lat[pick], model.station_lon[pick], sigma, rng)


def places(n: int, rng: np.random.Generator, *, station_share: float = 0.5, work: bool = False,
           gu_allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` places: ``station_share`` near stations, the rest spread by district population."""
    model = city_model()
    at_station = rng.random(n) < station_share
    lat = np.empty(n)
    lon = np.empty(n)
    lat[at_station], lon[at_station] = near_stations(int(at_station.sum()), rng, work=work,
                                                     gu_allowed=gu_allowed)
    allowed = np.arange(len(model.gu_codes)) if gu_allowed is None else np.asarray(gu_allowed)
    pop = model.gu_population[allowed]
    gu = rng.choice(allowed, int((~at_station).sum()), p=pop / pop.sum())
    lat[~at_station], lon[~at_station] = uniform_in_districts(gu, rng)
    return lat, lon


def keep_within(lat: np.ndarray, lon: np.ndarray, gu_allowed: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points outside the districts ``gu_allowed`` replaced by fresh ones inside them."""
    model = city_model()
    area = shapely.union_all([model.gu_shapes[g] for g in gu_allowed])
    outside = ~shapely.contains_xy(area, lon, lat)
    if outside.any():
        pop = model.gu_population[gu_allowed]
        gu = rng.choice(gu_allowed, int(outside.sum()), p=pop / pop.sum())
        lat, lon = lat.copy(), lon.copy()
        lat[outside], lon[outside] = uniform_in_districts(gu, rng)
    return lat, lon


@lru_cache(maxsize=1)
def seoul_cells_r8() -> np.ndarray:
    """Every res-8 cell where the generator can place a point (sorted).

    The cells that overlap Seoul, plus their neighbours: h3 draws cell edges on
    the sphere and shapely tests points in the plane, so a point a few metres
    inside the boundary can fall in a cell h3 does not count as overlapping.
    """
    model = city_model()
    cells: set[int] = set()
    for shape in model.gu_shapes:
        ring = [(y, x) for x, y in shape.exterior.coords]
        poly = h3.LatLngPoly(ring)
        cells.update(h3.api.basic_int.h3shape_to_cells_experimental(poly, 8, "overlap"))
    with_neighbours = {n for c in cells for n in h3.api.basic_int.grid_disk(c, 1)}
    return np.array(sorted(with_neighbours), dtype=np.uint64)


def cell_centres(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centres = [h3.api.basic_int.cell_to_latlng(int(c)) for c in cells]
    return np.array([c[0] for c in centres]), np.array([c[1] for c in centres])
