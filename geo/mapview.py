"""Per-hex numbers for the failure map: counts -> privacy -> shrinkage -> colour classes.

- ``level_view``: one number per hex for the chosen carrier (or all): the
  shrunk failure RATE where 'all good' samples give the attempts, else the
  shrunk failure DENSITY (failure reports per km² per hour).
- ``compare_view``: per hex, one carrier against the others in the same hex
  and hours (relative risk, or share ratio for densities, with 95 % intervals).
- ``carrier_estimates`` / ``worst_places``: the same shrinkage per carrier, ranked.

Every hex published here has at least k distinct reporters (geo.privacy);
hexes below are counted in ``hidden`` and never drawn. Its counts ("failures /
all") are shown only where ``counts_shown``: a rate's failures and its other
reports each rest on k reporters, and per hex, the carriers whose counts are
hidden never come back as the hex's total minus the others (geo.privacy.suppress).
Elsewhere only the shrunk estimate and its class are shown.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta

import h3
import numpy as np
import pandas as pd

from core import settings
from core.cells import cell_to_str, latlngs_to_cells
from core.vocab import NETWORKS
from geo import spatial, stats
from geo.mapquery import MAP_RESOLUTIONS, MapQuery, recent_window, state_from_params
from geo.places import cells_to_district_codes, district_by_code, place_of
from geo.privacy import hidden_counts, min_reporters
from store import map_sql
from store.filters import WEEKDAY, WEEKEND

log = logging.getLogger("dropmap.geo.mapview")

MAX_HEXES = 10_000  # about 4 MB of map HTML; more and the browser struggles
MIN_ATTEMPTS_TO_RATE = 10  # fewer reports than this: the hex is drawn grey ("too few to rate")
SAMPLED_SHARE = 0.5  # rates need 'all good' samples in at least this share of publishable hexes

RATE, DENSITY, RATIO = "rate", "density", "ratio"
# Compare-mode classes, lowest to highest.
MUCH_BETTER, BETTER, NO_CLEAR_DIFFERENCE, WORSE, MUCH_WORSE = range(5)
GREY = -1


@dataclass
class HexView:
    """The published hexes of one view and how to read them."""

    query: MapQuery
    res: int
    measure: str  # rate | density | ratio
    frame: pd.DataFrame  # one row per published hex
    breaks: tuple[float, ...] = ()
    hidden: int = 0  # hexes with reports but fewer than k reporters: not drawn
    k: int = 5
    prior: object = None
    notes: tuple[str, ...] = ()  # codes: coarsened, no_samples
    ratio_of: str | None = None  # compare mode: 'rate' (relative risk) or 'density' (share ratio)
    focus: str | None = None  # compare mode: the carrier compared with the others
    hours_observed: float = 0.0
    extra: dict = field(default_factory=dict)


def days_observed(cur, q: MapQuery) -> int:
    """Days in the view's period (clipped to the data) that match its weekday/weekend choice."""
    first, last = map_sql.data_period(cur)
    if first is None:
        return 0
    start = max(first, q.since) if q.since else first
    end = min(last, q.until) if q.until else last
    return count_days(start, end, q.day_type)


def observation_hours(cur, q: MapQuery) -> float:
    """Hours of observation behind a density: matching days x hours chosen."""
    return float(days_observed(cur, q) * len(q.hour_list() or range(24)))


def count_days(start: date, end: date, day_type: str | None) -> int:
    """Dates from start to end (inclusive) that are weekdays, weekend days, or any."""
    if end < start:
        return 0
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    if day_type == WEEKDAY:
        return sum(d.isoweekday() <= 5 for d in days)
    if day_type == WEEKEND:
        return sum(d.isoweekday() >= 6 for d in days)
    return len(days)


def cell_at(lat: float, lon: float, res: int) -> str:
    """The id of the hex at ``res`` containing a point (a click on the map)."""
    return cell_to_str(latlngs_to_cells([lat], [lon], res)[0])


def cell_areas_km2(cells) -> np.ndarray:
    """Area of each H3 cell in km² (cells differ by a few per cent across a city)."""
    return np.array([h3.api.basic_int.cell_area(int(c), "km^2") for c in cells], dtype=np.float64)


def choose_measure(requested: str, counts: pd.DataFrame, k: int) -> tuple[str, tuple[str, ...]]:
    """Rate when enough publishable groups have 'all good' samples, else density (with a note)."""
    if requested == DENSITY:
        return DENSITY, ()
    publishable = counts[counts["reporters"] >= k]
    sampled = (publishable["samples"] > 0).mean() if len(publishable) else 0.0
    if sampled >= SAMPLED_SHARE:
        return RATE, ()
    return DENSITY, ("no_samples",)


def counts_for_view(cur, q: MapQuery, res: int, *, carrier: bool = True,
                    by_network: bool = False) -> tuple[pd.DataFrame, str, tuple[str, ...]]:
    """Per-hex counts whose ``reporters`` are the people behind the measure shown, and that measure.

    A rate rests on everyone who reported in the hex (failures and samples); a
    density only on the reporters of the counted failures, so for a density
    the hexes are counted again over those failures alone (unless there are
    no samples and no kind filter: then both are the same people).
    """
    k = min_reporters()
    # One carrier's counts are read with the other carriers of each hex (the same rows: the view
    # without its carrier filter, per carrier), since its counts are shown only where the carriers
    # side by side may show theirs (``with_counts_shown``).
    one_carrier = bool(carrier and q.carrier and not by_network)
    flt = q.report_filter(carrier=carrier and not one_carrier)
    split = by_network or one_carrier

    def own(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["network"] == q.carrier] if one_carrier else frame

    if q.measure == DENSITY:
        counts = map_sql.hex_counts(cur, res, flt, k=k, by_network=split, of_failures=True)
        measure, why = DENSITY, ()
    else:
        counts = map_sql.hex_counts(cur, res, flt, k=k, by_network=split, sources=True)
        measure, why = choose_measure(q.measure, own(counts), k)
        # every carrier of the frame, not only the one shown: the others' counts decide its residual rule
        if measure == DENSITY and (q.kinds or counts["samples"].sum() > 0):
            counts = map_sql.hex_counts(cur, res, flt, k=k, by_network=split, of_failures=True)
    counts = with_counts_shown(counts, measure, k)
    if one_carrier:
        counts = own(counts).drop(columns="network").reset_index(drop=True)
    return counts, measure, why


def with_counts_shown(counts: pd.DataFrame, measure: str, k: int) -> pd.DataFrame:
    """Adds ``counts_shown``: whether the group's counts may be shown beside its estimate.

    A density's failures rest on its reporters; a rate's "failures / all" needs k reporters behind
    the failures and k behind the rest. Per hex, carriers side by side add up to the hex's total
    (another view of the map), so when some carriers' counts are hidden one more is hidden.
    """
    out = counts.copy()
    lines = [["cell"]] if "network" in out.columns else []
    out["counts_shown"] = ~hidden_counts(out, k, lines, rate=measure != DENSITY)
    return out


def estimate(counts: pd.DataFrame, measure: str, hours: float, k: int, *,
             pooled: bool = True) -> tuple[pd.DataFrame, object]:
    """The publishable hexes with shrunk estimates (estimate, low, high) and observed values, and the prior.

    The prior is fitted to the hexes whose counts are published (k reporters and ``counts_shown``) and
    nowhere else: fitted over hidden hexes too, its few numbers let a small view's rounded estimates
    give a hidden hex's counts back (a review decoded 3 of 4 small views). Posteriors are computed for
    the hexes that will be shown. A rate borrows from neighbouring hexes (geo.spatial) as far as the
    view's data support, unless ``pooled`` is False (each hex alone); the same hexes lend.
    """
    out = counts.copy()
    lends = (out["reporters"] >= k) & (out["counts_shown"].astype(bool) if "counts_shown" in out else True)
    if measure == RATE:
        if pooled:
            ring = spatial.ring_matrix(out["cell"])
            prior, out["_signal"] = spatial.fit(out["failures"], out["reports"], ring, lends)
        else:
            prior = stats.fit_beta_prior(out.loc[lends, "failures"], out.loc[lends, "reports"])
        out = publishable(out, measure, k)
        if pooled:
            # intervals only where they are shown: with the counts (ui.mapdraw, worst_places)
            est = spatial.shrink(out["failures"], out["reports"], out.pop("_signal"), prior,
                                 intervals=out["counts_shown"] if "counts_shown" in out else None)
        else:
            est = stats.shrink_rates(out["failures"], out["reports"], prior)
        out["observed"] = out["failures"] / out["reports"].where(out["reports"] > 0)
        out["uncertain"] = (out["reports"] < MIN_ATTEMPTS_TO_RATE) | (out["samples"] == 0)
    else:
        out["exposure"] = cell_areas_km2(out["cell"]) * max(hours, 1.0)
        prior = stats.fit_gamma_prior(out.loc[lends, "failures"], out.loc[lends, "exposure"])
        out = publishable(out, measure, k)
        est = stats.shrink_densities(out["failures"], out["exposure"], prior)
        out["observed"] = out["failures"] / out["exposure"]
        out["uncertain"] = False
    out["estimate"], out["low"], out["high"] = est.mean, est.low, est.high
    return out, prior


def publishable(frame: pd.DataFrame, measure: str, k: int) -> pd.DataFrame:
    """Groups with at least k distinct reporters behind the number shown (and something to show)."""
    keep = frame["reporters"] >= k
    if measure == DENSITY:
        keep &= frame["failures"] > 0
    order = ["cell", "network"] if "network" in frame.columns else ["cell"]
    return frame[keep].sort_values(order).reset_index(drop=True)


_PLACE_OF_CELL: dict[int, tuple[str, str, str]] = {}  # cell -> (id, gu ko, gu en); cells never move: only grows


def _with_places(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds cell_id and the district (gu) of each hex's centre."""
    out = frame.copy()
    cells = [int(c) for c in out["cell"]]
    new = [c for c in set(cells) if c not in _PLACE_OF_CELL]
    if new:
        codes = cells_to_district_codes(np.array(new, dtype=np.uint64))
        for cell, code in zip(new, codes, strict=True):
            area = district_by_code(code) if code else None
            _PLACE_OF_CELL[cell] = (cell_to_str(cell), *((area.name_ko, area.name_en) if area else ("", "")))
    places = [_PLACE_OF_CELL[c] for c in cells]
    out["cell_id"] = [p[0] for p in places]
    out["gu_ko"] = [p[1] for p in places]
    out["gu_en"] = [p[2] for p in places]
    return out


def level_view(cur, q: MapQuery, *, breaks: tuple[float, ...] | None = None, pooled: bool = True) -> HexView:
    """The failure level per hex for the query's carrier (or all carriers); ``pooled``: see ``estimate``."""
    k = min_reporters()
    res, notes = q.res, []
    hours = observation_hours(cur, q)
    while True:
        counts, measure, why = counts_for_view(cur, q, res)
        shown, prior = estimate(counts, measure, hours, k, pooled=pooled)
        if len(shown) <= MAX_HEXES or res == min(MAP_RESOLUTIONS):
            break
        res -= 1
        notes.append("coarsened")
    certain = shown.loc[~shown["uncertain"], "estimate"]
    breaks = breaks if breaks is not None else stats.quantile_breaks(certain)
    cls = stats.classify(shown["estimate"], breaks)
    shown["cls"] = np.where(shown["uncertain"], GREY, cls)
    has_data = counts["failures"] > 0 if measure == DENSITY else counts["reports"] > 0
    hidden = int(has_data.sum()) - len(shown)
    return HexView(q, res, measure, _with_places(shown), tuple(breaks), hidden, k, prior,
                   tuple(notes) + why, hours_observed=hours)


def _ratio_class(ratio, low, high, uncertain) -> np.ndarray:
    cls = np.full(len(ratio), NO_CLEAR_DIFFERENCE)
    cls = np.where(low > 1, np.where(ratio >= 2, MUCH_WORSE, WORSE), cls)
    cls = np.where(high < 1, np.where(ratio <= 0.5, MUCH_BETTER, BETTER), cls)
    return np.where(uncertain | ~np.isfinite(ratio), NO_CLEAR_DIFFERENCE, cls)


def compare_view(cur, q: MapQuery) -> HexView:
    """Per hex: the query's carrier (KT when none) against the other carriers, same hex and hours."""
    k = min_reporters()
    focus = q.carrier or "KT"
    counts, measure, why = counts_for_view(cur, q, q.res, carrier=False, by_network=True)
    groups = publishable(counts, measure, k)
    mine = groups[groups["network"] == focus].set_index("cell")
    others = groups[groups["network"] != focus].groupby("cell")[["failures", "samples", "reports"]].sum()
    # Counts (or observed rates) only where every carrier of the hex shows its counts: the hex's
    # total on the map minus this carrier and the others shown would otherwise give a hidden one.
    cell_shown = counts.groupby("cell")["counts_shown"].all().rename("cell_counts_shown")
    both = mine[["failures", "samples", "reports", "reporters", "counts_shown"]].join(
        others, rsuffix="_others", how="inner").join(cell_shown)
    both["counts_shown"] = both["counts_shown"] & both["cell_counts_shown"]
    if measure == RATE:
        est = stats.relative_risk(both["failures"], both["reports"], both["failures_others"], both["reports_others"])
        uncertain = (both["samples"] == 0) | (both["samples_others"] == 0) | \
            (both["reports"] < MIN_ATTEMPTS_TO_RATE) | (both["reports_others"] < MIN_ATTEMPTS_TO_RATE)
    else:
        totals = counts.groupby(counts["network"] == focus)["failures"].sum()
        est = stats.share_ratio(both["failures"], both["failures_others"],
                                totals.get(True, 0), totals.get(False, 0))
        uncertain = pd.Series(False, index=both.index)
    frame = both.reset_index()
    frame["estimate"], frame["low"], frame["high"] = est.mean, est.low, est.high
    frame["observed"] = frame["failures"] / frame["reports"]
    frame["observed_others"] = frame["failures_others"] / frame["reports_others"]
    frame["uncertain"] = uncertain.to_numpy()
    frame["cls"] = _ratio_class(frame["estimate"].to_numpy(), frame["low"].to_numpy(),
                                frame["high"].to_numpy(), frame["uncertain"].to_numpy())
    all_cells = counts["cell"].nunique()
    return HexView(q, q.res, RATIO, _with_places(frame), (), all_cells - len(frame), k, None, why,
                   ratio_of=measure, focus=focus, hours_observed=observation_hours(cur, q))


def carrier_counts(cur, q: MapQuery) -> tuple[pd.DataFrame, str]:
    """Per (hex, carrier) counts with ``counts_shown``, and the measure. With a carrier chosen, exactly the
    counts of that carrier's map (read beside the other carriers, so the residual rule across carriers
    holds: ``counts_for_view``); without one, every carrier side by side."""
    if q.carrier:
        counts, measure, _ = counts_for_view(cur, q, q.res)
        return counts.assign(network=q.carrier), measure
    counts, measure, _ = counts_for_view(cur, q, q.res, by_network=True)
    return counts, measure


def _per_carrier(cur, q: MapQuery) -> tuple[list[tuple[str, pd.DataFrame, object]], str]:
    """(carrier, its publishable hexes with estimates, its fitted prior) per carrier with counts, and the
    measure: each carrier with its own prior (``estimate``)."""
    k = min_reporters()
    counts, measure = carrier_counts(cur, q)
    hours = observation_hours(cur, q) if measure == DENSITY else 0.0
    out = []
    for network in NETWORKS:
        group = counts[counts["network"] == network]
        if len(group):
            out.append((network, *estimate(group.reset_index(drop=True), measure, hours, k)))
    return out, measure


def carrier_estimates(cur, q: MapQuery) -> tuple[pd.DataFrame, str]:
    """Shrunk estimates per (hex, carrier), each carrier with its own prior; publishable groups only."""
    parts, measure = _per_carrier(cur, q)
    if not parts:
        return pd.DataFrame(columns=["cell", "network", "estimate", "low", "high", "failures", "reports"]), measure
    return pd.concat([frame for _, frame, _ in parts], ignore_index=True), measure


def worst_places(cur, q: MapQuery, *, per_carrier: int = 10) -> tuple[pd.DataFrame, str]:
    """The hexes with the highest shrunk estimate per carrier, with district, dong and nearest station.

    Hexes drawn grey (too few reports, or no samples for a rate) are left out.
    """
    frame, measure = carrier_estimates(cur, q)
    if frame.empty:
        return frame, measure
    frame = frame[~frame["uncertain"].astype(bool)]
    ranked = (frame.sort_values(["network", "estimate"], ascending=[True, False])
              .groupby("network", sort=False).head(per_carrier).copy())
    ranked["rank"] = ranked.groupby("network").cumcount() + 1
    places = [place_of(*h3.api.basic_int.cell_to_latlng(int(c))) for c in ranked["cell"]]
    ranked["cell_id"] = [cell_to_str(c) for c in ranked["cell"]]
    ranked["gu_ko"] = [p["gu"].name_ko if p["gu"] else "" for p in places]
    ranked["gu_en"] = [p["gu"].name_en if p["gu"] else "" for p in places]
    ranked["dong_ko"] = [p["dong"].name_ko if p["dong"] else "" for p in places]
    ranked["dong_en"] = [p["dong"].name_en if p["dong"] else "" for p in places]
    ranked["station"] = [p["station"].name for p in places]
    ranked["station_m"] = [round(p["station_m"]) for p in places]
    hidden = ~ranked["counts_shown"].astype(bool)
    # the estimate too: from exact counts under k it decodes to them (as in the map's hover)
    ranked.loc[hidden, ["estimate", "low", "high", "observed", "failures", "reports"]] = np.nan
    columns = ["network", "rank", "cell_id", "gu_ko", "gu_en", "dong_ko", "dong_en", "station", "station_m",
               "estimate", "low", "high", "observed", "failures", "reports", "reporters"]
    return ranked[columns].reset_index(drop=True), measure


def pooling_picture(cur, q: MapQuery) -> tuple[pd.DataFrame, dict[str, spatial.PooledPrior]]:
    """What borrowing from neighbours does to one view, for the methodology page.

    Per carrier, the hexes whose counts are shown (observed rates are counts in disguise) and that are
    not grey: the raw observed rate, each hex's estimate alone (the same model without neighbours) and
    the map's estimate; and each carrier's fitted model. Empty for densities (not pooled).
    """
    per_carrier, measure = _per_carrier(cur, q)
    columns = ["network", "cell", "observed", "alone", "estimate", "reports"]
    if measure != RATE:
        return pd.DataFrame(columns=columns), {}
    parts = []
    for _, shown, prior in per_carrier:
        shown = shown[shown["counts_shown"].astype(bool) & ~shown["uncertain"].astype(bool)].reset_index(drop=True)
        shown["alone"] = spatial.each_alone(shown["failures"], shown["reports"], prior,
                                            intervals=np.zeros(len(shown), dtype=bool)).mean
        parts.append(shown[columns])
    priors = {network: prior for network, _, prior in per_carrier}
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)), priors


def opening_query(cur) -> MapQuery | None:
    """The view the map page opens on, and the home page's map: every carrier at res 8 over the recent
    window (the 13 weeks up to the last week with reports from k people); None with no data."""
    first, last = map_sql.data_period(cur)
    if first is None:
        return None
    since, until = recent_window(first, map_sql.last_busy_day(cur, min_reporters()) or last)
    return state_from_params({})[0].query.with_changes(since=since, until=until)


def kept_views(cur) -> list[MapQuery]:
    """The map views a visitor gets without choosing anything: the opening view (the recent window; the
    home page's map too) and the whole record, one click away ("Show the whole period")."""
    opening = opening_query(cur)
    if opening is None:
        return []
    first, last = map_sql.data_period(cur)
    whole = opening.with_changes(since=first, until=last)
    return [opening] if whole == opening else [opening, whole]


def keep_views(stop=None) -> threading.Thread:
    """Keep the views of ``kept_views`` computed in the background (store.cache.RESULTS.keep_current),
    so no visitor waits for them while reports arrive: once at once, then every DROPMAP_CACHE_SECONDS
    until ``stop`` (a threading.Event) is set; without ``stop``, or with DROPMAP_CACHE_SECONDS 0, once.
    The site runs it while it serves. Each view, and the list of views itself (finding the recent
    window can scan the history), is computed again at most once per DROPMAP_CACHE_SECONDS after
    reports arrive (the views' cost at 100 M reports: docs/BENCHMARKS.md "Kept results"). A failure
    is logged and left for the next round, or for a visitor, who computes it and sees the error."""
    from store.cache import RESULTS

    def loop() -> None:
        while True:
            try:
                for q in RESULTS.read(kept_views):
                    RESULTS.keep_current(level_view, q)
            except Exception:  # noqa: BLE001 -- the next round, or a visitor, computes them again
                log.warning("the kept map views could not be brought up to date", exc_info=True)
            every = settings.get_int("DROPMAP_CACHE_SECONDS")
            if stop is None or every <= 0 or stop.wait(every):
                return

    thread = threading.Thread(target=loop, name="map-views-kept", daemon=True)
    thread.start()
    return thread
