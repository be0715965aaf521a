"""The city's configuration (data/city.json): zone, region, resolutions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from core import settings


@dataclass(frozen=True)
class Region:
    name: str
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and self.lon_min <= lon <= self.lon_max


@dataclass(frozen=True)
class City:
    name_ko: str
    name_en: str
    timezone: str
    center: tuple[float, float]
    zoom: int
    city_bbox: Region
    region: Region
    resolutions: tuple[int, ...]
    default_resolution: int
    oldest_observation: datetime
    max_clock_skew_minutes: int

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@lru_cache(maxsize=4)
def _load(path: str) -> City:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return City(
        name_ko=raw["name"]["ko"],
        name_en=raw["name"]["en"],
        timezone=raw["timezone"],
        center=tuple(raw["center"]),
        zoom=int(raw["zoom"]),
        city_bbox=Region(name=raw["name"]["en"], **raw["city_bbox"]),
        region=Region(**raw["region"]),
        resolutions=tuple(raw["resolutions"]),
        default_resolution=int(raw["default_resolution"]),
        oldest_observation=datetime.fromisoformat(raw["oldest_observation"]),
        max_clock_skew_minutes=int(raw["max_clock_skew_minutes"]),
    )


def load_city() -> City:
    """The configured city (DROPMAP_CITY), parsed once per path."""
    return _load(settings.get("DROPMAP_CITY"))
