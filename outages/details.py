"""What an incident page shows: timeline against the usual band, kinds, districts, monthly totals.

The UI calls these and only draws. Counts are of distinct reporters' first
reports (one per reporter per hour), the same unit the detector uses; kinds
and districts are shown only with at least k reporters. The timeline never
shows a bin of fewer than k reporters: such bins are merged with their
neighbours until the merged stretch has k (``merge_small_bins``), and the
kinds table pools the small kinds with at least one kind of k reporters, so
neither two adjacent points nor the total minus the rows ever give a count
of fewer than k people.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from core.settings import DATA_DIR
from core.vocab import KINDS
from geo.places import district_by_code
from geo.privacy import min_reporters, suppress
from outages.compensation import monthly_outage_minutes
from outages.detect import DetectorConfig, usual_band
from outages.history import READ
from outages.incidents import area_series
from outages.series import district_codes, load_series, make_frame
from store import outages_sql

BEFORE = timedelta(minutes=90)
AFTER = timedelta(minutes=60)
MAX_SPAN = timedelta(days=4)


def _bin_minutes(span: timedelta) -> int:
    """Minutes per point: 1 up to 6 hours, 5 up to a day, else 15 (a readable number of bars)."""
    if span <= timedelta(hours=6):
        return 1
    return 5 if span <= timedelta(days=1) else 15


def timeline(cur, row: dict, areas: list[dict], config: DetectorConfig | None = None) -> pd.DataFrame:
    """First reports per time bin in the incident's area, with the usual level and its 98% band.

    Columns: time (Seoul time), reporters, usual, low, high, minutes (bin width), and the merged
    stretch each bin belongs to: span_start, span_bins, span_reporters. ``reporters`` is the
    stretch's reporters spread evenly over its bins (so a stretch of 3 bins with 6 reporters
    shows 2 per bin); a stretch that cannot reach k reporters shows None.
    """
    config = config or DetectorConfig()
    stop = (row["resolved_at"] or row["ended_at"] or row["as_of"]) + AFTER
    start = row["onset_at"] - BEFORE
    stop = min(stop, start + MAX_SPAN, row["as_of"])
    frame = make_frame(start, stop, config)
    excluded = {}
    for network, onset, end in outages_sql.confirmed_periods(cur, row["network"]):
        if onset < row["onset_at"] - timedelta(minutes=1):
            excluded.setdefault(network, []).append((onset, end))
    # A page: it reads the kept hours when they hold the incident's weeks, never moves them.
    network = row["network"]
    series = load_series(cur, frame, config, excluded=excluded, networks=(network,), kept=READ)[network]
    codes = district_codes()
    chosen = {0} if row["scope"] == "city" else {codes.index(a["sig_cd"]) + 1 for a in areas if a["sig_cd"] in codes}
    counts, expected = area_series(series, chosen)
    counts, expected = counts[frame.lead:], expected[frame.lead:]
    width = _bin_minutes(stop - start)
    n = len(counts) // width * width
    binned_counts = counts[:n].reshape(-1, width).sum(axis=1)
    binned_usual = expected[:n].reshape(-1, width).sum(axis=1)
    low, high = usual_band(binned_usual, series.kappa)
    times = pd.date_range(frame.start, periods=len(binned_counts), freq=f"{width}min").tz_convert("Asia/Seoul")
    spans = merge_small_bins(binned_counts.astype(int), min_reporters())
    starts = np.zeros(len(binned_counts), dtype=int)
    sizes = np.zeros(len(binned_counts), dtype=int)
    totals: list[int | None] = [None] * len(binned_counts)
    for first, last, total in spans:
        starts[first:last + 1], sizes[first:last + 1] = first, last - first + 1
        totals[first:last + 1] = [total] * (last - first + 1)
    per_bin = [np.nan if t is None else round(t / n, 2) for t, n in zip(totals, sizes, strict=True)]
    return pd.DataFrame({"time": times, "reporters": np.array(per_bin, dtype=float),
                         "usual": np.round(binned_usual, 3), "low": low, "high": high, "minutes": width,
                         "span_start": times[starts] if len(times) else times, "span_bins": sizes,
                         "span_reporters": np.array([np.nan if t is None else t for t in totals], dtype=float)})


def merge_small_bins(counts, k: int) -> list[tuple[int, int, int | None]]:
    """Consecutive bins merged into stretches (first, last, reporters) of 0 or at least k reporters.

    From the latest bin backwards (the latest minutes matter most, and stay finest): empty bins
    stay alone; otherwise bins are added until the stretch reaches k. A remainder at the start
    that never reaches k joins the next stretch that has reporters (with the empty bins between);
    with no such stretch it is published as None. So every published figure is 0 or >= k, and
    stretches never overlap: no difference of two published figures is a count of fewer than k.
    """
    counts = [int(c) for c in counts]
    spans: list[list] = []  # newest first
    j = len(counts) - 1
    while j >= 0:
        if counts[j] == 0:
            spans.append([j, j, 0])
            j -= 1
            continue
        i, total = j, 0
        while i >= 0 and total < k:
            total += counts[i]
            i -= 1
        spans.append([i + 1, j, total])
        j = i
    if spans and 0 < spans[-1][2] < k:
        rest = spans.pop()
        while spans and spans[-1][2] == 0:
            rest[1] = spans.pop()[1]
        if spans:
            later = spans.pop()
            spans.append([rest[0], later[1], rest[2] + later[2]])
        else:
            spans.append([rest[0], rest[1], None])
    return [tuple(span) for span in reversed(spans)]


def kinds(cur, row: dict, areas: list[dict], lang: str) -> pd.DataFrame:
    """Failure kinds in the incident's area and period; kinds with fewer than k reporters are pooled.

    Columns: kind (in ``lang``), reports, reporters (text: a number, or 'k+' for the pooled rest).
    The pool always holds a kind of at least k reporters beside the small ones (geo.privacy.suppress):
    a pool of small kinds alone would be the incident's reports minus the kinds shown.
    """
    stop = row["ended_at"] or row["as_of"]
    codes = None if row["scope"] == "city" else [a["sig_cd"] for a in areas]
    table = outages_sql.kinds_in(cur, network=row["network"], start=row["onset_at"], end=stop, sig_cds=codes)
    k = min_reporters()
    pooled = suppress(table, (table["reporters"] < k).to_numpy(), {"reports": "reporters"}, k, [[]])
    shown = table[~pooled].copy()
    hidden = table[pooled]
    shown["kind"] = shown["kind"].map(lambda kind: KINDS.get(kind, {}).get(lang, kind))
    shown["reporters"] = shown["reporters"].map(str)
    if len(hidden):
        if (hidden["reporters"] >= k).any():
            other, reporters = ("기타" if lang == "ko" else "Other"), f"{k}+"
            rest = int(hidden["reports"].sum())
        else:  # only small kinds, nothing to pool them with: not shown at all
            other, reporters, rest = ("기타(소수, 비공개)" if lang == "ko" else "Other (few, not shown)"), f"<{k}", None
        shown = pd.concat([shown, pd.DataFrame({"kind": [other], "reports": [rest], "reporters": [reporters]})],
                          ignore_index=True)
    return shown.reset_index(drop=True)


@lru_cache(maxsize=1)
def _district_shapes() -> tuple[dict, ...]:
    doc = json.loads((DATA_DIR / "seoul_gu.geojson").read_text(encoding="utf-8"))
    return tuple(doc["features"])


def district_features(row: dict, areas: list[dict]) -> list[dict]:
    """GeoJSON features of Seoul's districts, marked affected or not (for a map of the incident)."""
    named = {a["sig_cd"]: a for a in areas}
    features = []
    for feature in _district_shapes():
        code = str(feature["properties"]["SIG_CD"])
        area = named.get(code)
        affected = row["scope"] == "city" or area is not None
        place = district_by_code(code)
        features.append({
            "type": "Feature", "geometry": feature["geometry"],
            "properties": {"code": code, "name_ko": place.name_ko if place else code,
                           "name_en": place.name_en if place else code, "affected": affected,
                           "reporters": area["reporters"] if area else None},
        })
    return features


def monthly_totals(cur) -> pd.DataFrame:
    """Cumulative outage minutes per carrier and month (confirmed incidents, Seoul months).

    Columns: network, month, minutes, incidents.
    """
    periods = outages_sql.confirmed_periods(cur)
    minutes = monthly_outage_minutes(periods)
    counts: dict[tuple[str, str], int] = {}
    from core.city import load_city

    tz = load_city().tz
    for network, onset, _ in periods:
        key = (network, f"{onset.astimezone(tz):%Y-%m}")
        counts[key] = counts.get(key, 0) + 1
    rows = [{"network": n, "month": m, "minutes": round(v), "incidents": counts.get((n, m), 0)}
            for (n, m), v in sorted(minutes.items(), key=lambda kv: (kv[0][1], kv[0][0]))]
    return pd.DataFrame(rows, columns=["network", "month", "minutes", "incidents"])


def month_minutes_of(cur, row: dict) -> float:
    """The carrier's cumulative confirmed outage time in the incident's month, this incident included."""
    from core.city import load_city

    month = f"{row['onset_at'].astimezone(load_city().tz):%Y-%m}"
    periods = outages_sql.confirmed_periods(cur, row["network"])
    if not row["confirmed"]:
        periods.append((row["network"], row["onset_at"], row["ended_at"] or row["as_of"]))
    return monthly_outage_minutes(periods).get((row["network"], month), 0.0)
