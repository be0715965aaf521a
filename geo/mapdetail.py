"""The numbers around the map: hour-of-day and daily profiles per carrier, and one hex's detail.

Every group shown (carrier x hour, carrier x day, carrier x kind, device model)
needs k distinct reporters like a hex does; smaller groups come back as
missing values, never as small numbers. A rate's counts also need k reporters
behind the failures and k behind the rest, and in each list of parts that adds
up to a published total, one more part is hidden when the hidden ones rest on
fewer than k reporters (geo.privacy.suppress), so no total minus the shown
parts gives a hidden one back. Observed rates carry a 95 % Jeffreys
interval, counts a 95 % exact Poisson interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import h3
import numpy as np
import pandas as pd
from scipy import stats as sps

from core.cells import str_to_cell
from core.errors import InputError
from geo.mapquery import MAP_RESOLUTIONS, MapQuery
from geo.mapview import DENSITY, RATE, days_observed
from geo.places import place_of
from geo.privacy import hidden_counts, min_reporters, suppress
from store import map_sql


def rate_interval(failures, reports) -> tuple[np.ndarray, np.ndarray]:
    """95 % Jeffreys interval of failures / reports (Beta(f + 1/2, n - f + 1/2) quantiles)."""
    f, n = np.asarray(failures, dtype=float), np.asarray(reports, dtype=float)
    a, b = f + 0.5, np.maximum(n - f, 0) + 0.5
    return sps.beta.ppf(0.025, a, b), sps.beta.ppf(0.975, a, b)


def count_interval(counts) -> tuple[np.ndarray, np.ndarray]:
    """95 % exact (Garwood) interval of a Poisson count."""
    y = np.asarray(counts, dtype=float)
    low = np.where(y > 0, sps.gamma.ppf(0.025, np.maximum(y, 1e-9)), 0.0)
    return low, sps.gamma.ppf(0.975, y + 1)


def _values(frame: pd.DataFrame, measure: str, per: float, k: int,
            lines: list[list[str]] | None = None) -> pd.DataFrame:
    """Adds value/low/high (rate, or failures per ``per`` units) and masks groups under k reporters.

    With failure_reporters/rest_reporters (a rate's counts), a group is also masked when its failures or
    its other reports rest on fewer than k reporters; ``lines`` (geo.privacy.suppress) then masks one more
    group per line where the masked ones would otherwise be the difference of a total and the shown ones.
    """
    out = frame.copy()
    out["rest"] = out["reports"] - out["failures"]
    if measure == RATE:
        out["value"] = out["failures"] / out["reports"]
        out["low"], out["high"] = rate_interval(out["failures"], out["reports"])
    else:
        out["value"] = out["failures"] / per
        low, high = count_interval(out["failures"])
        out["low"], out["high"] = low / per, high / per
    hidden = hidden_counts(out, k, lines or ())
    out.loc[hidden, ["value", "low", "high", "failures", "samples", "reports", "rest"]] = np.nan
    out["hidden"] = hidden
    return out


def hour_profile(cur, q: MapQuery, measure: str) -> pd.DataFrame:
    """Per local hour and carrier, over the view (all hours, all carriers): rate, or failures per day."""
    k = min_reporters()
    counts = map_sql.hour_counts(cur, q.report_filter(carrier=False, hours=False), k=k, of_failures=measure != RATE,
                                 sources=measure == RATE)
    return _values(counts, measure, max(days_observed(cur, q), 1), k, [["network"], ["hour"]])


def day_trend(cur, q: MapQuery, measure: str) -> pd.DataFrame:
    """Per local date and carrier, in the view's hours: rate, or failures that day."""
    k = min_reporters()
    counts = map_sql.day_counts(cur, q.report_filter(carrier=False), k=k, of_failures=measure != RATE,
                                sources=measure == RATE)
    return _values(counts, measure if measure == RATE else DENSITY, 1.0, k, [["network"], ["day"]])


@dataclass
class CellDetail:
    """What the detail panel shows for one hex."""

    cell_id: str
    res: int
    published: bool  # False: fewer than k reporters in this hex and view; nothing else is filled
    place: dict = field(default_factory=dict)  # gu, dong (Area or None), station, station_m
    carriers: pd.DataFrame | None = None  # per network: failures, samples, reports, reporters, value, low, high
    hours: pd.DataFrame | None = None  # per network x hour (all hours)
    kinds: pd.DataFrame | None = None  # per kind x network
    devices: pd.DataFrame | None = None  # device_model, failures, reporters (>= k each)
    reporters: int = 0


def cell_detail(cur, q: MapQuery, cell_id: str) -> CellDetail:
    """The detail of one hex under the view's filters (the carrier filter is dropped: all carriers side by side)."""
    cell = str_to_cell(cell_id)
    res = h3.api.basic_int.get_resolution(cell)
    if res not in MAP_RESOLUTIONS:
        raise InputError("cell", cell_id, "pick a hex of resolution 7, 8 or 9 on the map")
    k = min_reporters()
    flt = q.report_filter(carrier=False)
    total = map_sql.cell_counts(cur, res, cell, flt, k=k, by_network=False)
    reporters = int(total["reporters"].iloc[0]) if len(total) else 0
    if reporters < k:
        return CellDetail(cell_id, res, published=False, reporters=0)
    lat, lon = h3.api.basic_int.cell_to_latlng(cell)
    # Parts of the hex's totals (the map's hover shows them): carriers side by side, carrier x hour
    # (margins: per carrier, per hour), carrier x kind (per carrier, per kind), device models.
    carriers = _values(map_sql.cell_counts(cur, res, cell, flt, k=k), RATE, 1.0, k, [[]])
    all_hours = q.report_filter(carrier=False, hours=False)
    hours = _values(map_sql.cell_counts(cur, res, cell, all_hours, k=k, by_hour=True), RATE, 1.0, k,
                    [["network"], ["hour"], []])
    kinds = map_sql.cell_kinds(cur, res, cell, flt)
    hidden = suppress(kinds, (kinds["reporters"] < k).to_numpy(), {"failures": "reporters"}, k,
                      [["network"], ["kind"], []])
    devices = _devices(cur, res, cell, flt, k, failures=int(kinds["failures"].sum()))
    kinds = map_sql.failures_with_noise(kinds[~hidden].reset_index(drop=True), k)
    return CellDetail(cell_id, res, True, place_of(lat, lon), carriers, hours, kinds, devices, reporters)


def _devices(cur, res: int, cell: int, flt, k: int, *, failures: int, limit: int = 5) -> pd.DataFrame:
    """The most named device models (>= k reporters each), such that the hex's failures minus the
    models shown never rest on fewer than k reporters: reports without a model count as one part
    whose reporters are not known, so they always need a hidden model beside them."""
    models = map_sql.cell_devices(cur, res, cell, flt, min_reporters=1, limit=10_000)
    unnamed = failures - int(models["failures"].sum())
    parts = pd.concat([models, pd.DataFrame({"device_model": [None], "failures": [max(unnamed, 0)],
                                             "reporters": [0], "cell_key": [0]})], ignore_index=True)
    hidden = suppress(parts, (parts["reporters"] < k).to_numpy(), {"failures": "reporters"}, k, [[]])
    shown = map_sql.failures_with_noise(parts[~hidden & parts["device_model"].notna()], k)
    return shown.sort_values(["failures", "device_model"], ascending=[False, True]).head(limit).reset_index(drop=True)
