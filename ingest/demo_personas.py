"""The demo city's documented reporters (personas), whose codes docs/DEMO.md publishes.

Each persona is an ordinary reporter of the synthetic city with a known code, a
home, a workplace and a daily route through named subway stations. Their
attempts meet the same true rates as everyone's (ingest/demo_truth.py); what
makes each story true is in the world, not in the evidence code:

- ``DEMO-KTKT-2021`` (answer "network"): a KT subscriber on a sound phone
  commuting 노원 -> 강남 by subway (line 7 to 건대입구, line 2 to 강남). Several
  of KT's weak hexes lie on the stations of that route (the ground truth says
  so: table demo_persona_zones), so every KT user there fails more often than
  SKT and LG U+ users in the same places and hours, whatever the phone;
- ``DEMO-PHON-2021`` (answer "phone"): an SKT subscriber on "DemoPhone D1", a
  made-up model that fails PHONE_FACTORS times as often as the average phone on
  every network and everywhere. Where he lives and works SKT is no worse than
  the others, so the people with his model on other carriers fail more, and
  the people on his carrier with other models do not.

Part of the demo generator (see ingest/demo.py and docs/DEMO.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.cells import latlngs_to_cells
from geo.places import stations
from ingest.demo_city import scatter
from ingest.demo_people import DEVICE_MODELS, Reporters

# A made-up model that fails this many times as often as the average phone (same network, same hex).
# Every other model fails a little less, so that over all attempts the average phone meets the truth.
PHONE_FACTORS: dict[str, float] = {"DemoPhone D1": 2.5}
MAX_RATE = 0.95

LINE7_NOWON_KONKUK = ("노원", "중계", "하계", "공릉", "태릉입구", "먹골", "중화", "상봉", "면목", "사가정",
                      "용마산", "중곡", "군자", "어린이대공원", "건대입구")
LINE2_KONKUK_GANGNAM = ("구의", "강변", "잠실나루", "잠실", "잠실새내", "종합운동장", "삼성", "선릉", "역삼", "강남")


@dataclass(frozen=True)
class Persona:
    """One documented demo reporter whose own log a dossier or "my reports" page can show."""

    code: str
    answer: str  # what "phone or network?" should say for him: network | phone
    carrier: str
    network: str
    device: str
    home: tuple[float, float]
    work: tuple[float, float]
    route: tuple[str, ...]  # station names of the daily route, in order (home end first)
    weak_zones: int = 0  # how many of his network's weak station hexes lie on the route
    attempts_per_day: float = 14.0
    kinds: tuple[tuple[str, float], ...] = (("dropped_call", 0.8), ("call_setup_failure", 0.2))


PERSONAS: tuple[Persona, ...] = (
    Persona(code="DEMO-KTKT-2021", answer="network", carrier="KT", network="KT", device="Galaxy S21",
            home=(37.6552, 127.0612),  # near 노원역
            work=(37.4981, 127.0276),  # near 강남역
            route=LINE7_NOWON_KONKUK + LINE2_KONKUK_GANGNAM, weak_zones=7),
    Persona(code="DEMO-PHON-2021", answer="phone", carrier="SKT", network="SKT", device="DemoPhone D1",
            home=(37.4842, 126.9297),  # near 신림역
            work=(37.4852, 126.9015),  # near 구로디지털단지역
            route=("신림", "신대방", "구로디지털단지"),
            kinds=(("dropped_call", 0.5), ("slow_data", 0.3), ("no_data", 0.2))),
)
PERSONA = PERSONAS[0]  # the subscriber with daily drops that DESIGN.md describes


@lru_cache(maxsize=8)
def route_points(persona: Persona) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) of the route's stations, in route order."""
    by_name = {s.name: s for s in stations()}
    missing = [n for n in persona.route if n not in by_name]
    if missing:
        raise ValueError(f"stations not in the station list: {missing}")
    return (np.array([by_name[n].lat for n in persona.route]), np.array([by_name[n].lon for n in persona.route]))


def route_cells(persona: Persona) -> np.ndarray:
    """The res-8 hexes of the route's stations, in route order (a hex may repeat)."""
    lat, lon = route_points(persona)
    return latlngs_to_cells(lat, lon, 8)


def zone_candidates(persona: Persona) -> np.ndarray:
    """Route station hexes that may become weak zones: not his home's or his workplace's hex."""
    ends = latlngs_to_cells(np.array([persona.home[0], persona.work[0]]),
                            np.array([persona.home[1], persona.work[1]]), 8)
    cells = route_cells(persona)
    return np.unique(cells[~np.isin(cells, ends)])


def add_personas(people: Reporters, expected_attempts: float, days: int,
                 personas: tuple[Persona, ...] = PERSONAS) -> None:
    """Make reporters 0..n-1 the personas, with enough activity for their attempts a day."""
    n = len(personas)
    shares = np.array([min(0.05, p.attempts_per_day * days / max(expected_attempts, 1.0)) for p in personas])
    others = np.arange(n, len(people.code))
    people.activity[others] *= (1.0 - shares.sum()) / people.activity[others].sum()
    for i, p in enumerate(personas):
        people.activity[i] = shares[i]
        people.code[i], people.carrier[i], people.network[i] = p.code, p.carrier, p.network
        people.device[i], people.has_5g[i] = p.device, DEVICE_MODELS[p.device][1]
        people.home_lat[i], people.home_lon[i] = p.home
        people.work_lat[i], people.work_lon[i] = p.work


def phone_factors(people: Reporters) -> np.ndarray:
    """Each reporter's phone factor on the true rate, averaging 1 over all attempts (activity-weighted)."""
    raw = np.array([PHONE_FACTORS.get(d, 1.0) for d in people.device])
    special = raw != 1.0
    share = float(people.activity[special].sum())
    others = (1.0 - float((people.activity[special] * raw[special]).sum())) / max(1.0 - share, 1e-9)
    return np.where(special, raw, others)


def persona_places(mode: np.ndarray, who: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                   rng: np.random.Generator, personas: tuple[Persona, ...] = PERSONAS) -> None:
    """Persona attempts away from home and work (modes 2 and 3) happen at the stations of their route."""
    for i, persona in enumerate(personas):
        sel = np.flatnonzero((who == i) & (mode >= 2))
        if not len(sel):
            continue
        route_lat, route_lon = route_points(persona)
        stop = rng.integers(0, len(route_lat), len(sel))
        lat[sel], lon[sel] = scatter(route_lat[stop], route_lon[stop], 100.0, rng)
