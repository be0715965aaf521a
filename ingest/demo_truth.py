"""The demo city's ground truth: each network's true failure probability per res-8 hex.

Every hex that overlaps Seoul gets, per host network, a rate of

    BASE_RATE x a mild, smooth city-wide variation (between 0.7x and 1.4x)

except the network's WEAK_PER_NETWORK weak hexes, whose rate is BASE_RATE
times a multiplier between 3 and 8. The weakest non-weak hex is at most
1.4 x BASE_RATE and the mildest weak one at least 3 x BASE_RATE, so "the 20
truly weakest hexes of a network" is a well-defined set that a map's ranking
can be scored against (saved in the table ``demo_truth``).

Weak hexes are plausible places: busy station hexes (crowded cells, deep
platforms), ordinary interior hexes, and hexes near the city's edge
(mountains, river banks), which see few reports. A few are shared by all
three networks (terrain or a building no network covers well).

The truth depends on the seed only, so the generator and the ground-truth
table agree without passing state around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely

from core.cells import latlngs_to_cells
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
WEAK_MULTIPLIER_RANGE = (3.0, 8.0)
WEAK_PER_NETWORK = 20
SHARED_WEAK = 3  # of each network's weak hexes, this many are weak for every network
# Where each network's own weak hexes lie: busy station hexes, interior, edge.
WEAK_MIX = {"station": 9, "interior": 4, "edge": 4}
EDGE_METRES = 1500.0  # a hex whose centre is this close to the city boundary counts as "edge"


@dataclass(frozen=True)
class Truth:
    """True failure rates per (network, res-8 hex) for the hexes listed in ``cells``."""

    cells: np.ndarray  # sorted uint64
    rates: dict[str, np.ndarray]  # network -> rate per cell, aligned with ``cells``
    weak: dict[str, np.ndarray]  # network -> its weak cells
    zones: dict[str, np.ndarray] = field(default_factory=dict)  # persona code -> weak cells on his route

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


def _cell_categories(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Candidate weak hexes: station hexes, interior hexes and edge hexes."""
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
    return {
        "station": cells[inside & is_station],
        "interior": cells[inside & ~is_station & (to_edge > EDGE_METRES)],
        "edge": cells[inside & ~is_station & (to_edge <= EDGE_METRES) & (to_edge > 200.0)],
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


@lru_cache(maxsize=4)
def true_failure_rates(seed: int) -> Truth:
    """The ground truth for ``seed``: a weak-hex set and a rate field per network."""
    rng = np.random.default_rng([seed, 0x7E0])  # a stream of its own, independent of the traffic
    cells = seoul_cells_r8()
    categories = _cell_categories(cells)
    shared = np.concatenate([rng.choice(categories["station"], 1, replace=False),
                             rng.choice(categories["edge"], SHARED_WEAK - 1, replace=False)])
    lat, lon = cell_centres(cells)
    rates: dict[str, np.ndarray] = {}
    weak: dict[str, np.ndarray] = {}
    zones: dict[str, np.ndarray] = {}
    for network in NETWORKS:
        chosen = list(shared)
        for category, count in WEAK_MIX.items():
            if category == "station":  # a persona's weak zones are station hexes of his route
                for persona in (p for p in PERSONAS if p.network == network and p.weak_zones):
                    pool = np.setdiff1d(np.intersect1d(zone_candidates(persona), categories["station"]), chosen)
                    picked = rng.choice(pool, min(persona.weak_zones, count, len(pool)), replace=False)
                    zones[persona.code] = np.sort(picked)
                    chosen.extend(picked)
                    count -= len(picked)
            pool = np.setdiff1d(categories[category], chosen)
            chosen.extend(rng.choice(pool, count, replace=False))
        weak_cells = np.array(sorted(chosen), dtype=np.uint64)
        network_rates = BASE_RATE * _variation(rng, lat, lon)
        multipliers = rng.uniform(*WEAK_MULTIPLIER_RANGE, len(weak_cells))
        network_rates[np.searchsorted(cells, weak_cells)] = BASE_RATE * multipliers
        rates[network] = network_rates
        weak[network] = weak_cells
    return Truth(cells=cells, rates=rates, weak=weak, zones=zones)


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
