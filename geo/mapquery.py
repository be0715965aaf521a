"""What one view of the failure map asks for, and its round trip through the URL.

A ``MapQuery`` holds the filters (carrier, brand type, failure kinds, hours,
weekday/weekend, dates, resolution, measure, mode); a ``MapState`` adds where
the map looks (centre, zoom), the chosen hex and the optional base map. Both
are read from and written to the query string, so a shared URL reopens the
same view. Bad values in a URL never break the page: they fall back to the
default and come back as ``InputError``s the page can show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from core.cells import str_to_cell
from core.city import load_city
from core.errors import InputError
from core.vocab import KINDS, NETWORKS, host_network
from store.filters import WEEKDAY, WEEKEND, ReportFilter

MAP_RESOLUTIONS = (7, 8, 9)
RES_CHOICES = ("auto", "7", "8", "9")
MEASURES = ("auto", "rate", "density")
MODES = ("level", "compare")
BRANDS = ("all", "own", "mvno")
DAY_TYPES = (WEEKDAY, WEEKEND)
ALL_HOURS = (0, 23)


WINDOW_WEEKS = 13


def recent_window(first: date, last: date) -> tuple[date, date]:
    """The map's default period: the 13 Monday-Sunday weeks that end with the week of the latest
    report, up to that report's day (from the first report when the data are younger). It follows
    the data, not the clock: a quiet site, or the 2021 demo, still shows its latest weeks."""
    monday = last - timedelta(days=last.weekday() + 7 * (WINDOW_WEEKS - 1))
    return max(first, monday), last


def auto_resolution(zoom: int) -> int:
    """The hex resolution for a zoom level: about 10-40 px per hex on screen, never over ~10 k hexes."""
    if zoom <= 9:
        return 7
    if zoom <= 11:
        return 8
    return 9


@dataclass(frozen=True)
class MapQuery:
    """The filters of one map view (hashable: it keys the page's cache)."""

    carrier: str | None = None  # host network SKT / KT / LGU+; None = all
    brand: str = "all"  # all | own (the carrier's own brand) | mvno (알뜰폰 on that network)
    kinds: tuple[str, ...] = ()  # failure kinds; () = every kind
    hours: tuple[int, int] = ALL_HOURS  # local hours, inclusive range
    day_type: str | None = None
    since: date | None = None
    until: date | None = None
    res: int = 8
    measure: str = "auto"  # auto | rate | density
    mode: str = "level"  # level | compare (one carrier against the others in each hex)

    def __post_init__(self) -> None:
        _check(self.carrier is None or self.carrier in NETWORKS, "carrier", self.carrier,
               f"use one of {', '.join(NETWORKS)} or leave empty for all")
        _check(self.brand in BRANDS, "brand", self.brand, "use all, own or mvno")
        for kind in self.kinds:
            _check(kind in KINDS, "kind", kind, f"use one of {', '.join(KINDS)}")
        h0, h1 = self.hours
        _check(0 <= h0 <= h1 <= 23, "hours", f"{h0}-{h1}", "use an hour 0-23 or a range like 8-10")
        _check(self.day_type in (None, *DAY_TYPES), "days", self.day_type, "use weekday or weekend")
        _check(self.res in MAP_RESOLUTIONS, "res", self.res, "the map uses resolution 7, 8 or 9")
        _check(self.measure in MEASURES, "measure", self.measure, "use auto, rate or density")
        _check(self.mode in MODES, "mode", self.mode, "use level or compare")
        if self.since and self.until:
            _check(self.since <= self.until, "since/until", f"{self.since} ~ {self.until}",
                   "the start must not be after the end")

    @property
    def all_hours(self) -> bool:
        return self.hours == ALL_HOURS

    def hour_list(self) -> tuple[int, ...]:
        """The local hours selected; () when all 24."""
        return () if self.all_hours else tuple(range(self.hours[0], self.hours[1] + 1))

    def report_filter(self, *, carrier: bool = True, hours: bool = True) -> ReportFilter:
        """The store filter of this view (optionally without the carrier or the hours)."""
        return ReportFilter(
            networks=(self.carrier,) if carrier and self.carrier else (),
            mvno={"all": None, "own": False, "mvno": True}[self.brand],
            kinds=self.kinds,
            hours=self.hour_list() if hours else (),
            day_type=self.day_type,
            since=self.since,
            until=self.until,
        )

    def with_changes(self, **changes) -> MapQuery:
        return replace(self, **changes)


def _check(ok: bool, name: str, value, fix: str) -> None:
    if not ok:
        raise InputError(name, value, fix)


@dataclass(frozen=True)
class MapState:
    """A whole map view as a URL stores it: the query, the map position and the chosen hex."""

    query: MapQuery = field(default_factory=MapQuery)
    res_choice: str = "auto"
    lat: float = field(default_factory=lambda: load_city().center[0])
    lon: float = field(default_factory=lambda: load_city().center[1])
    zoom: int = field(default_factory=lambda: load_city().zoom)
    cell: str | None = None
    tiles: bool = False

    def effective_res(self) -> int:
        return auto_resolution(self.zoom) if self.res_choice == "auto" else int(self.res_choice)


def _parse_hours(text: str) -> tuple[int, int]:
    parts = text.replace("~", "-").split("-")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
        raise InputError("hours", text, "use an hour 0-23 or a range like 8-10")
    h0, h1 = int(parts[0]), int(parts[-1])
    if not 0 <= h0 <= h1 <= 23:
        raise InputError("hours", text, "use an hour 0-23 or a range like 8-10 (start before end)")
    return h0, h1


def _parse_carrier(text: str) -> str:
    try:
        return host_network(text)
    except InputError as e:
        raise InputError("carrier", text, f"{e.message}, or leave empty for all; MVNO reports: add brand=mvno") from e


def _parse_date(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise InputError(name, text, "use a date like 2021-10-25") from e


def _parse_position(params: Mapping[str, str], base: MapState) -> dict:
    out = {}
    region = load_city().region
    for name, low, high in (("lat", region.lat_min, region.lat_max), ("lon", region.lon_min, region.lon_max)):
        if name in params:
            try:
                value = float(params[name])
            except ValueError as e:
                raise InputError(name, params[name], "use decimal degrees, e.g. 37.5665") from e
            _check(low <= value <= high, name, value, f"must lie in {region.name} ({low}–{high})")
            out[name] = value
    if "z" in params:
        text = params["z"]
        _check(text.isdigit() and 8 <= int(text) <= 18, "z", text, "zoom runs from 8 to 18")
        out["zoom"] = int(text)
    return out


# URL parameter -> (MapQuery field, parser). Parsers raise InputError.
_QUERY_PARAMS = {
    "carrier": ("carrier", lambda v: _parse_carrier(v)),
    "brand": ("brand", str),
    "kind": ("kinds", lambda v: tuple(k for k in v.split(",") if k)),
    "hours": ("hours", _parse_hours),
    "days": ("day_type", str),
    "since": ("since", lambda v: _parse_date("since", v)),
    "until": ("until", lambda v: _parse_date("until", v)),
    "measure": ("measure", str),
    "mode": ("mode", str),
}


def state_from_params(params: Mapping[str, str]) -> tuple[MapState, list[InputError]]:
    """The view a URL asks for; each bad parameter is skipped and reported."""
    problems: list[InputError] = []
    query = MapQuery()
    for name, (attr, parse) in _QUERY_PARAMS.items():
        if params.get(name, "") == "":
            continue
        try:
            query = replace(query, **{attr: parse(params[name])})
        except InputError as e:
            problems.append(e)
    state = MapState(query=query)
    changes: dict = {}
    if params.get("res"):
        if params["res"] in RES_CHOICES:
            changes["res_choice"] = params["res"]
        else:
            problems.append(InputError("res", params["res"], "use auto, 7, 8 or 9"))
    try:
        changes.update(_parse_position(params, state))
    except InputError as e:
        problems.append(e)
    if params.get("cell"):
        try:
            str_to_cell(params["cell"])
            changes["cell"] = params["cell"].strip().lower()
        except InputError as e:
            problems.append(e)
    changes["tiles"] = params.get("tiles") == "1"
    state = replace(state, **changes)
    return replace(state, query=replace(state.query, res=state.effective_res())), problems


def hours_label(hours: tuple[int, int]) -> str:
    """'18' for one hour, '8-10' for a range."""
    return str(hours[0]) if hours[0] == hours[1] else f"{hours[0]}-{hours[1]}"


def params_from_state(state: MapState, default_period: tuple[date, date] | None = None) -> dict[str, str]:
    """Query-string parameters of a view; defaults are left out so URLs stay short. Dates equal to
    ``default_period`` (the recent window) are left out too: such an address keeps following the data."""
    q = state.query
    if default_period is not None and (q.since, q.until) == tuple(default_period):
        q = replace(q, since=None, until=None)
    out = {
        "mode": q.mode if q.mode != "level" else None,
        "carrier": q.carrier,
        "brand": q.brand if q.brand != "all" else None,
        "kind": ",".join(q.kinds) or None,
        "hours": None if q.all_hours else hours_label(q.hours),
        "days": q.day_type,
        "since": q.since.isoformat() if q.since else None,
        "until": q.until.isoformat() if q.until else None,
        "res": state.res_choice if state.res_choice != "auto" else None,
        "measure": q.measure if q.measure != "auto" else None,
        "lat": f"{state.lat:.4f}",
        "lon": f"{state.lon:.4f}",
        "z": str(state.zoom),
        "cell": state.cell,
        "tiles": "1" if state.tiles else None,
    }
    return {k: v for k, v in out.items() if v is not None}
