"""The demo city's ground truth: each network's true failure probability per res-8 hex.

Every hex that overlaps Seoul gets, per host network, a rate of

    BASE_RATE x a mild, smooth city-wide variation (between 0.7x and 1.4x)

except the network's weak hexes, whose rate is BASE_RATE times a multiplier
above that range: 3x-8x, or with ``subtle`` 1.5x-2.2x in footprints and
1.8x-3x for single hexes. The weakest ordinary hex is at most 1.4 x BASE_RATE
and every weak one above it, so "the 20 truly weakest hexes of a network" is a
well-defined set that a map's ranking can be scored against (saved in the
table ``demo_truth``; the kind of each weak hex in ``demo_weak_hexes``).

Weak places come in two kinds:

- single hexes ("isolated"), none next to another weak hex of the network: busy
  station hexes (crowded cells, deep platforms), ordinary interior hexes, and
  hexes near the city's edge (mountains, river banks), which see few reports;
- footprints ("cluster") of 7 hexes, a centre and its ring, all inside Seoul, as
  a tower's footprint, a tunnel or a ridge would be: one level for the footprint
  (each hex within 5 % of it), and no other weak hex next to it. A network's own
  footprints are centred on station hexes.

``weak`` says which a city has: per network 3 footprints (21 hexes) in a
``clustered`` city, 20 single hexes in an ``isolated`` one, 2 footprints and 6
single hexes in a ``mixed`` one (the default). A few are weak for all three
networks (terrain or a building no network covers well): one footprint at the
edge (a ridge) in a clustered city, else three single hexes (a station, two at
the edge).

The demo personas' stories (ingest/demo_personas.py) hold in every city:
- a persona's weak zones are single station hexes of his route at 3x-8x, even
  in a subtle city; they may lie next to each other. They count among their
  network's single hexes: where they do not fit, the network has one footprint
  fewer and 7 single hexes more;
- where a "phone" persona reports, no hex is weak and his network is no worse
  than the best of the others.

The smooth variation depends on the seed only; the weak places on the seed,
``weak`` and ``subtle``. So the generator and the ground-truth table agree
without passing state around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import h3
import numpy as np
import pandas as pd
import shapely

from core.cells import latlngs_to_cells
from core.errors import InputError
from core.vocab import NETWORKS
from ingest.demo_city import (
    METRES_PER_DEG_LAT,
    METRES_PER_DEG_LON,
    cell_centres,
    city_model,
    is_in_seoul,
    seoul_cells_r8,
)
from ingest.demo_personas import PERSONAS, route_cells, zone_candidates

BASE_RATE = 0.10
VARIATION_RANGE = (0.7, 1.4)
WEAK_MULTIPLIER_RANGE = (3.0, 8.0)  # every weak hex by default; persona weak zones always
SUBTLE_MULTIPLIER_RANGES = {"cluster": (1.5, 2.2), "isolated": (1.8, 3.0)}
FOOTPRINT_JITTER = 0.05  # a footprint hex's multiplier is the footprint's level times 1 +- this
WEAK_PER_NETWORK = 20  # the size of the "truly weakest" set that rankings are scored against
WEAK_KINDS = ("clustered", "isolated", "mixed")
# Per kind of city: (footprints, single hexes) of each network's weak places, and of those weak for
# every network. A footprint is a centre and its ring.
WEAK_LAYOUT = {"clustered": (3, 0), "isolated": (0, 20), "mixed": (2, 6)}
SHARED_LAYOUT = {"clustered": (1, 0), "isolated": (0, 3), "mixed": (0, 3)}
FOOTPRINT_SIZE = 7
# Where a network's own single weak hexes lie (in this proportion): busy station hexes, interior, edge.
WEAK_MIX = {"station": 9, "interior": 4, "edge": 4}
EDGE_METRES = 1500.0  # a hex whose centre is this close to the city boundary counts as "edge"


@dataclass(frozen=True)
class Truth:
    """True failure rates per (network, res-8 hex) for the hexes listed in ``cells``."""

    cells: np.ndarray  # sorted uint64
    rates: dict[str, np.ndarray]  # network -> rate per cell, aligned with ``cells``
    weak: dict[str, np.ndarray]  # network -> its weak cells (sorted)
    zones: dict[str, np.ndarray] = field(default_factory=dict)  # persona code -> weak cells on his route
    kinds: dict[str, np.ndarray] = field(default_factory=dict)  # network -> cluster|isolated|persona per weak cell
    footprints: dict[str, np.ndarray] = field(default_factory=dict)  # network -> centre of each footprint

    def rates_of(self, networks: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """The true rate of each (network, cell) pair; every cell must be in ``self.cells``."""
        idx = np.searchsorted(self.cells, cells)
        if len(cells) and (idx.max() >= len(self.cells) or (self.cells[idx] != cells).any()):
            raise ValueError("a point fell in a hex without ground truth")
        out = np.empty(len(cells))
        for network, rates in self.rates.items():
            mine = networks == network
            out[mine] = rates[idx[mine]]
        return out

    def frame(self) -> pd.DataFrame:
        """Rows for the table demo_truth(network, h3_r8, failure_rate)."""
        parts = [pd.DataFrame({"network": network, "h3_r8": self.cells, "failure_rate": rates})
                 for network, rates in self.rates.items()]
        return pd.concat(parts, ignore_index=True)

    def weak_frame(self) -> pd.DataFrame:
        """Rows for the table demo_weak_hexes(network, h3_r8, weak_kind, footprint): the footprint's centre
        for a cluster hex, else None."""
        rows = []
        for network, cells in self.weak.items():
            centre_of = {int(c): int(centre) for centre in self.footprints.get(network, ())
                         for c in h3.api.basic_int.grid_disk(int(centre), 1)}
            rows += [{"network": network, "h3_r8": int(c), "weak_kind": kind, "footprint": centre_of.get(int(c))}
                     for c, kind in zip(cells, self.kinds[network], strict=True)]
        frame = pd.DataFrame(rows, columns=["network", "h3_r8", "weak_kind", "footprint"])
        return frame.astype({"h3_r8": "uint64", "footprint": "UInt64"})


def _cell_categories(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Candidate weak hexes: station, interior and edge hexes, and footprint centres (whose ring is inside too)."""
    model = city_model()
    lat, lon = cell_centres(cells)
    inside = is_in_seoul(lat, lon)
    station_cells = np.unique(latlngs_to_cells(model.station_lat, model.station_lon, 8))
    # Distance of each centre to the boundary, in metres (degrees scaled at Seoul's latitude).
    points = shapely.points(lon * METRES_PER_DEG_LON, lat * METRES_PER_DEG_LAT)
    boundary = shapely.affinity.scale(model.seoul.boundary, METRES_PER_DEG_LON, METRES_PER_DEG_LAT,
                                      origin=(0, 0))
    to_edge = shapely.distance(points, boundary)
    is_station = np.isin(cells, station_cells)
    # No weak place where a "phone" persona reports: his network must be no worse there.
    quiet = _phone_persona_places()
    allowed = inside & ~np.isin(cells, quiet)
    inside_set = set(cells[inside].tolist())
    centres = [c for c in inside_set if inside_set.issuperset(h3.api.basic_int.grid_disk(c, 1))]
    return {
        "station": cells[allowed & is_station],
        "interior": cells[allowed & ~is_station & (to_edge > EDGE_METRES)],
        "edge": cells[allowed & ~is_station & (to_edge <= EDGE_METRES) & (to_edge > 200.0)],
        "centre": np.setdiff1d(np.array(sorted(centres), dtype=np.uint64), _within(quiet, 1)),
    }


def _variation(rng: np.random.Generator, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """A smooth multiplier field: a few broad bumps and dips of a few km, clipped."""
    model = city_model()
    x0, y0, x1, y1 = model.seoul.bounds
    log_factor = np.zeros(len(lat))
    for _ in range(8):
        cy, cx = rng.uniform(y0, y1), rng.uniform(x0, x1)
        scale_m = rng.uniform(2000.0, 5000.0)
        amplitude = rng.uniform(-0.35, 0.35)
        d2 = ((lat - cy) * METRES_PER_DEG_LAT) ** 2 + ((lon - cx) * METRES_PER_DEG_LON) ** 2
        log_factor += amplitude * np.exp(-d2 / (2 * scale_m ** 2))
    return np.clip(np.exp(log_factor), *VARIATION_RANGE)


def _phone_persona_places() -> np.ndarray:
    """The hexes where a "phone" persona reports: his route's stations, home and work, and their neighbours."""
    near: list[np.ndarray] = []
    for persona in (p for p in PERSONAS if p.answer == "phone"):
        ends = latlngs_to_cells(np.array([persona.home[0], persona.work[0]]),
                                np.array([persona.home[1], persona.work[1]]), 8)
        near.append(_within(np.concatenate([route_cells(persona), ends]), 1))
    return np.unique(np.concatenate(near)) if near else np.array([], dtype=np.uint64)


def _variations(rng: np.random.Generator, cells: np.ndarray) -> dict[str, np.ndarray]:
    """Each network's smooth multiplier field. Where a "phone" persona reports, his network is made no worse
    than the best of the others, so that his story (the phone, not the network) holds whatever the seed."""
    lat, lon = cell_centres(cells)
    fields = {network: _variation(rng, lat, lon) for network in NETWORKS}
    for persona in (p for p in PERSONAS if p.answer == "phone"):
        idx = np.searchsorted(cells, np.intersect1d(_phone_persona_places(), cells))
        best_other = np.min([fields[n][idx] for n in NETWORKS if n != persona.network], axis=0)
        fields[persona.network][idx] = np.minimum(fields[persona.network][idx], best_other)
    return fields


def _within(cells, distance: int) -> np.ndarray:
    """Every hex within ``distance`` steps of one of ``cells``."""
    near = {n for c in cells for n in h3.api.basic_int.grid_disk(int(c), distance)}
    return np.array(sorted(near), dtype=np.uint64)


def _pick_single(rng: np.random.Generator, pool: np.ndarray, count: int, chosen: list[int]) -> list[int]:
    """``count`` hexes of ``pool``, one by one, none next to a chosen hex or to each other."""
    picked: list[int] = []
    for _ in range(count):
        picked.append(int(rng.choice(np.setdiff1d(pool, _within(chosen + picked, 1)))))
    return picked


def _pick_footprints(rng: np.random.Generator, categories: dict[str, np.ndarray], where: tuple[str, ...],
                     chosen: list[int]) -> list[int]:
    """One footprint centre in each category of ``where`` (a footprint whose centre is a station hex, an
    interior or an edge hex), its 7 hexes touching no chosen hex and no other footprint."""
    picked: list[int] = []
    for category in where:
        taken = chosen + [int(c) for p in picked for c in h3.api.basic_int.grid_disk(p, 1)]
        pool = np.intersect1d(categories["centre"], categories[category])
        picked.append(int(rng.choice(np.setdiff1d(pool, _within(taken, 2)))))
    return picked


def _category_counts(total: int, zones: int) -> dict[str, int]:
    """How many of a network's own single weak hexes lie in each category: WEAK_MIX scaled to ``total``
    (largest remainders), with room among the station hexes for ``zones`` persona weak zones."""
    exact = total * np.array(list(WEAK_MIX.values()), dtype=float) / sum(WEAK_MIX.values())
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact, kind="stable")[: total - counts.sum()]] += 1
    while counts[0] < zones:
        counts[1 + np.argmax(counts[1:])] -= 1
        counts[0] += 1
    return dict(zip(WEAK_MIX, counts.tolist(), strict=True))


def multiplier_ranges(subtle: bool) -> dict[str, tuple[float, float]]:
    """The multiplier range of each kind of weak hex (cluster, isolated, persona)."""
    ranges = SUBTLE_MULTIPLIER_RANGES if subtle else dict.fromkeys(("cluster", "isolated"), WEAK_MULTIPLIER_RANGE)
    return {**ranges, "persona": WEAK_MULTIPLIER_RANGE}


def _multipliers(rng: np.random.Generator, kinds: np.ndarray, footprint_of: np.ndarray,
                 subtle: bool) -> np.ndarray:
    """One multiplier per weak hex: one per single hex, one level per footprint (times a small jitter)."""
    ranges = multiplier_ranges(subtle)
    out = np.empty(len(kinds))
    for kind in ("persona", "isolated"):
        sel = kinds == kind
        out[sel] = rng.uniform(*ranges[kind], sel.sum())
    cluster = kinds == "cluster"
    low, high = ranges["cluster"]  # levels leave room for the jitter, so every hex stays in the range
    levels = {int(c): rng.uniform(low / (1 - FOOTPRINT_JITTER), high / (1 + FOOTPRINT_JITTER))
              for c in np.unique(footprint_of[cluster])}
    jitter = rng.uniform(1 - FOOTPRINT_JITTER, 1 + FOOTPRINT_JITTER, cluster.sum())
    out[cluster] = np.array([levels[int(c)] for c in footprint_of[cluster]]) * jitter
    return out


def _shared_places(rng: np.random.Generator, weak: str, categories: dict) -> tuple[list[int], dict[int, str]]:
    """The weak places of every network: footprint centres, and each weak hex with its kind."""
    footprints, single = SHARED_LAYOUT[weak]
    centres = _pick_footprints(rng, categories, ("edge",) * footprints, [])  # a ridge
    kind_of = dict.fromkeys((int(c) for p in centres for c in h3.api.basic_int.grid_disk(p, 1)), "cluster")
    stations = _pick_single(rng, categories["station"], min(single, 1), list(kind_of))  # one busy station
    edges = _pick_single(rng, categories["edge"], single - len(stations), list(kind_of) + stations)
    return centres, kind_of | dict.fromkeys(stations + edges, "isolated")


def _network_places(rng: np.random.Generator, network: str, weak: str, categories: dict,
                    shared: tuple[list[int], dict[int, str]],
                    zones: dict[str, np.ndarray]) -> tuple[list[int], dict[int, str]]:
    """One network's weak places (the shared ones, its personas' weak zones, its own footprints and
    single hexes): footprint centres, and each weak hex with its kind. Fills ``zones`` per persona."""
    centres, kind_of = list(shared[0]), dict(shared[1])
    personas = [p for p in PERSONAS if p.network == network and p.weak_zones]
    footprints, single = WEAK_LAYOUT[weak]
    shared_footprints, shared_single = SHARED_LAYOUT[weak]
    while sum(p.weak_zones for p in personas) > single - shared_single and footprints > shared_footprints:
        footprints -= 1  # persona zones are single hexes: a footprint makes room for 7
        single += FOOTPRINT_SIZE
    for persona in personas:  # a persona's weak zones are station hexes of his route
        pool = np.setdiff1d(np.intersect1d(zone_candidates(persona), categories["station"]),
                            _within(kind_of, 1))
        zones[persona.code] = np.sort(rng.choice(pool, min(persona.weak_zones, len(pool)), replace=False))
        kind_of |= dict.fromkeys((int(c) for c in zones[persona.code]), "persona")
    # A network's own footprints are centred on station hexes: a tunnel, a deep platform, a crowded cell.
    for centre in _pick_footprints(rng, categories, ("station",) * (footprints - shared_footprints), list(kind_of)):
        centres.append(centre)
        kind_of |= dict.fromkeys(h3.api.basic_int.grid_disk(centre, 1), "cluster")
    persona_zones = sum(len(zones[p.code]) for p in personas)
    counts = _category_counts(single - shared_single, persona_zones)
    counts["station"] -= persona_zones
    for category, count in counts.items():
        kind_of |= dict.fromkeys(_pick_single(rng, categories[category], count, list(kind_of)), "isolated")
    return centres, kind_of


@lru_cache(maxsize=8)
def true_failure_rates(seed: int, weak: str = "mixed", subtle: bool = False) -> Truth:
    """The ground truth for ``seed``: a weak-hex set and a rate field per network.

    ``weak`` is the kind of city (clustered, isolated or mixed weak places);
    ``subtle`` makes weak places only 1.5x-3x the base rate (persona weak zones keep 3x-8x).
    """
    if weak not in WEAK_KINDS:
        raise InputError("weak", weak, f"use one of {', '.join(WEAK_KINDS)}")
    rng = np.random.default_rng([seed, 0x7E0])  # a stream of its own, independent of the traffic
    cells = seoul_cells_r8()
    categories = _cell_categories(cells)
    variation = _variations(np.random.default_rng([seed, 0x7E1]), cells)  # the same in every kind of city
    shared = _shared_places(rng, weak, categories)
    truth = Truth(cells=cells, rates={}, weak={}, zones={}, kinds={}, footprints={})
    for network in NETWORKS:
        centres, kind_of = _network_places(rng, network, weak, categories, shared, truth.zones)
        weak_cells = np.array(sorted(kind_of), dtype=np.uint64)
        kinds = np.array([kind_of[int(c)] for c in weak_cells])
        centre_of = {c: centre for centre in centres for c in h3.api.basic_int.grid_disk(centre, 1)}
        footprint_of = np.array([centre_of.get(int(c), 0) for c in weak_cells], dtype=np.uint64)
        rates = BASE_RATE * variation[network]
        rates[np.searchsorted(cells, weak_cells)] = BASE_RATE * _multipliers(rng, kinds, footprint_of, subtle)
        truth.rates[network], truth.weak[network], truth.kinds[network] = rates, weak_cells, kinds
        truth.footprints[network] = np.array(sorted(centres), dtype=np.uint64)
    return truth


def mean_rate(truth: Truth) -> float:
    """A rough mean rate, to size how many attempts give a wanted number of failures."""
    return float(np.mean([r.mean() for r in truth.rates.values()]))


def persona_rows(truth: Truth) -> pd.DataFrame:
    """Rows for the table demo_persona_zones: each persona's route station hexes with his network's true
    rate there, and whether the hex is one of the weak zones (persona code, expected answer, order on
    the route, station name)."""
    rows = []
    for persona in PERSONAS:
        cells = route_cells(persona)
        rates = truth.rates_of(np.array([persona.network] * len(cells), dtype=object), cells)
        weak = truth.zones.get(persona.code, np.array([], dtype=np.uint64))
        for order, (station, cell, rate) in enumerate(zip(persona.route, cells, rates, strict=True)):
            rows.append({"reporter_code": persona.code, "expected_answer": persona.answer,
                         "network": persona.network, "device_model": persona.device, "route_order": order,
                         "station": station, "h3_r8": int(cell), "failure_rate": float(rate),
                         "weak_zone": bool(np.isin(cell, weak))})
    return pd.DataFrame(rows)
