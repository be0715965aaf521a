"""The demo city's people and their days: reporters, carriers, phones, and when they report.

Part of the demo generator (see ingest/demo.py and docs/DEMO.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from core.vocab import normalise_carrier
from ingest.demo_city import places

SEOUL = ZoneInfo("Asia/Seoul")

# Carrier names as subscribers write them, with shares of subscribers near the
# 2021 market (SKT ~40%, KT ~24%, LG U+ ~20%, MVNOs ~16% riding on the three).
CARRIER_SHARES: dict[str, float] = {
    "SKT": 0.40,
    "KT": 0.24,
    "LGU+": 0.20,
    # MVNOs on KT (~45% of MVNO lines)
    "KT M모바일": 0.028, "헬로모바일 KT": 0.016, "KT스카이라이프": 0.008, "리브엠 KT": 0.010,
    "프리티 KT": 0.010,
    # MVNOs on LG U+ (~32%)
    "U+유모바일": 0.018, "헬로모바일 LGU+": 0.012, "리브엠 LGU+": 0.014, "프리티 LGU+": 0.007,
    # MVNOs on SKT (~23%)
    "SK 세븐모바일": 0.017, "헬로모바일 SKT": 0.010, "이야기모바일 SKT": 0.006, "티플러스": 0.004,
}

# Phones in use around 2021, with a rough share and whether they do 5G.
DEVICE_MODELS: dict[str, tuple[float, bool]] = {
    "Galaxy S21": (0.09, True), "Galaxy S21 Ultra": (0.04, True), "Galaxy S20": (0.06, True),
    "Galaxy S10": (0.06, False), "Galaxy Note20": (0.06, True), "Galaxy Note10": (0.05, False),
    "Galaxy Z Flip3": (0.04, True), "Galaxy Z Fold3": (0.02, True), "Galaxy A32": (0.04, False),
    "Galaxy A52s": (0.03, True), "Galaxy A12": (0.03, False), "Galaxy Quantum2": (0.02, True),
    "iPhone 13": (0.04, True), "iPhone 13 Pro": (0.03, True), "iPhone 12": (0.07, True),
    "iPhone 12 mini": (0.02, True), "iPhone 11": (0.07, False), "iPhone XS": (0.03, False),
    "iPhone SE (2nd gen)": (0.03, False), "LG V50 ThinQ": (0.04, True), "LG Velvet": (0.03, True),
    "LG Wing": (0.01, True), "Xiaomi Redmi Note 10": (0.01, False), "Pixel 5": (0.01, True),
    # A made-up model with a defect (ingest/demo_personas.py PHONE_FACTORS): the "phone" story.
    "DemoPhone D1": (0.03, True),
}

# Relative activity per local hour: weekday commute peaks (07-09, 18-20), quiet nights.
WEEKDAY_HOURS = np.array([0.35, 0.20, 0.12, 0.08, 0.08, 0.15, 0.45, 1.30, 1.60, 1.00, 0.75, 0.75,
                          0.90, 0.80, 0.70, 0.70, 0.75, 0.95, 1.50, 1.35, 0.90, 0.75, 0.65, 0.50])
WEEKEND_HOURS = np.array([0.45, 0.30, 0.20, 0.12, 0.08, 0.08, 0.15, 0.25, 0.35, 0.50, 0.70, 0.85,
                          0.90, 0.95, 0.95, 0.95, 0.90, 0.90, 0.85, 0.80, 0.75, 0.70, 0.65, 0.55])
WEEKEND_DAY_WEIGHT = 0.8
# Public holidays that fall on weekdays near the demo period (treated like Sundays).
HOLIDAYS = {date(2021, 9, 20), date(2021, 9, 21), date(2021, 9, 22),  # 추석
            date(2021, 10, 4), date(2021, 10, 11)}  # 개천절·한글날 대체공휴일

_CODE_ALPHABET = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"))


@dataclass
class Reporters:
    """A population of reporters: each has a code, a carrier, a phone, a home and a workplace."""

    code: np.ndarray
    carrier: np.ndarray  # as written, e.g. '헬로모바일 KT'
    network: np.ndarray  # host network: SKT, KT, LGU+
    device: np.ndarray
    has_5g: np.ndarray
    activity: np.ndarray  # share of all attempts (sums to 1); skewed: most report rarely
    home_lat: np.ndarray
    home_lon: np.ndarray
    work_lat: np.ndarray
    work_lon: np.ndarray


def reporter_codes(n: int, rng: np.random.Generator) -> np.ndarray:
    """Private codes like 'K7QX-M2PA-9RTB', drawn from ``rng`` (so a seed repeats them)."""
    chars = _CODE_ALPHABET[rng.integers(0, len(_CODE_ALPHABET), (n, 12))]
    joined = ["".join(row) for row in chars]
    return np.array([f"{c[:4]}-{c[4:8]}-{c[8:]}" for c in joined], dtype=object)


def host_networks(carriers: np.ndarray) -> np.ndarray:
    """The host network of each carrier name (through the same vocabulary as validation)."""
    uniques, inverse = np.unique(carriers.astype(str), return_inverse=True)
    hosts = np.array([normalise_carrier(c).network for c in uniques], dtype=object)
    return hosts[inverse]


def carriers_of(network: str) -> dict[str, float]:
    """The carrier names (own brand and MVNOs) that ride on ``network``, with shares."""
    names = np.array(list(CARRIER_SHARES), dtype=object)
    on = host_networks(names) == network
    return {name: CARRIER_SHARES[name] for name in names[on]}


def pick(rng: np.random.Generator, table: dict, n: int) -> np.ndarray:
    """``n`` keys of ``table`` drawn by weight (a float, or the first item of a tuple)."""
    keys = list(table)
    weights = np.array([v[0] if isinstance(v, tuple) else v for v in table.values()], dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), n, p=weights / weights.sum())]


def _deal_by_activity(shares: dict[str, float], activity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Carriers for reporters in random order, cutting their cumulative activity at the shares."""
    keys = np.array(list(shares), dtype=object)
    bounds = np.cumsum(list(shares.values()))
    bounds = bounds / bounds[-1]
    order = rng.permutation(len(activity))
    weight = activity[order] / activity.sum()
    middle = np.cumsum(weight) - weight / 2
    out = np.empty(len(activity), dtype=object)
    out[order] = keys[np.minimum(np.searchsorted(bounds, middle), len(keys) - 1)]
    return out


def make_reporters(n: int, rng: np.random.Generator, *, carriers: dict[str, float] | None = None,
                   gu_allowed: np.ndarray | None = None) -> Reporters:
    """``n`` reporters with lognormal (skewed) activity and carriers by market share.

    Carriers are dealt so that each carrier's share of all ACTIVITY (and so of
    reports) matches its market share: with skewed activity, drawing carriers
    independently would let a few busy reporters tilt the shares.
    """
    activity = rng.lognormal(0.0, 1.3, n)
    carrier = _deal_by_activity(carriers or CARRIER_SHARES, activity, rng)
    device = pick(rng, DEVICE_MODELS, n)
    home_lat, home_lon = places(n, rng, station_share=0.35, gu_allowed=gu_allowed)
    work_lat, work_lon = places(n, rng, station_share=0.7, work=True, gu_allowed=gu_allowed)
    return Reporters(
        code=reporter_codes(n, rng), carrier=carrier, network=host_networks(carrier), device=device,
        has_5g=np.array([DEVICE_MODELS[d][1] for d in device]), activity=activity / activity.sum(),
        home_lat=home_lat, home_lon=home_lon, work_lat=work_lat, work_lon=work_lon,
    )


def techs(has_5g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Radio technology of each attempt: 5G phones are on 5G about half the time."""
    u = rng.random(len(has_5g))
    out = np.where(has_5g & (u < 0.55), "5G", "LTE").astype(object)
    out[u > 0.97] = "unknown"  # some reporters leave it empty or do not know
    out[(u > 0.95) & (u <= 0.97)] = "3G"
    return out


def period(end: datetime, days: int) -> tuple[datetime, datetime]:
    """[start, end) in Seoul time; ``end`` is exclusive."""
    end = end.astimezone(SEOUL)
    return end - timedelta(days=days), end


def is_weekday(day: date) -> bool:
    return day.weekday() < 5 and day not in HOLIDAYS


def attempt_times(n: int, start: datetime, days: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` instants (UTC datetime64[s]) spread by day type and hour-of-day profile."""
    weights, slot_starts = [], []
    for d in range(days):
        day_start = start + timedelta(days=d)
        weekday = is_weekday(day_start.date())
        profile = WEEKDAY_HOURS if weekday else WEEKEND_HOURS * WEEKEND_DAY_WEIGHT
        weights.append(profile)
        # Hour slots as UTC epoch seconds (Seoul has no daylight saving time).
        slot_starts.append(day_start.timestamp() + 3600 * np.arange(24))
    w = np.concatenate(weights)
    slots = rng.choice(len(w), n, p=w / w.sum())
    seconds = np.concatenate(slot_starts)[slots] + rng.integers(0, 3600, n)
    return seconds.astype("int64").astype("datetime64[s]")


def local_hours(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local hour 0-23, is-weekday) of UTC datetime64[s] instants, in Seoul time."""
    local = times + np.timedelta64(9, "h")  # Asia/Seoul is UTC+9 all year
    hours = (local.astype("datetime64[h]") - local.astype("datetime64[D]")).astype(int)
    days = local.astype("datetime64[D]")
    uniques, inverse = np.unique(days, return_inverse=True)
    weekday = np.array([is_weekday(d.astype(object)) for d in uniques])
    return hours, weekday[inverse]
