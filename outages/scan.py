"""Run the detector over a stretch of time and keep the incidents table in step with it.

``scan(con, at)`` looks at the last hours before ``at``; ``replay(con, since,
until)`` walks a longer period in chunks of a week, jumping over stretches
without reports. Each run recomputes every incident it touches from the
reports (so late reports and moderation are taken into account) and starts
early enough to see any open incident from its onset: the stored incidents
are always what the detector concludes from the data up to ``as_of``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from core.city import load_city
from geo.privacy import min_reporters
from outages.detect import DetectorConfig, trailing_sums
from outages.incidents import Episode, affected_districts, area_series, find_episodes
from outages.series import Frame, NetworkSeries, district_codes, floor_minute, load_series, make_frame
from store import outages_sql
from store.db import cursor

LOOKBACK = timedelta(hours=6)
CHUNK = timedelta(days=7)
MARGIN = timedelta(hours=1)  # a recomputed incident starts this long before its stored onset
RATIO_FLOOR = 1.0  # usual count below which "N times the usual" is computed against 1 (no silly ratios)


@dataclass
class ScanResult:
    start: datetime | None = None
    end: datetime | None = None
    incident_ids: list[str] = field(default_factory=list)  # incidents written, in onset order
    events: list[tuple[str, str, datetime]] = field(default_factory=list)  # (incident_id, event, data time)


def detect(cur, start: datetime, end: datetime, config: DetectorConfig | None = None
           ) -> tuple[Frame, dict[str, tuple[NetworkSeries, list[Episode]]]]:
    """Episodes per network in [start, end), without touching the store."""
    config = config or DetectorConfig()
    frame = make_frame(start, end, config)
    excluded: dict[str, list] = {}
    for network, onset, stop in outages_sql.confirmed_periods(cur):
        if onset < frame.start:  # incidents inside the frame must not hide themselves
            excluded.setdefault(network, []).append((onset, stop))
    series = load_series(cur, frame, config, excluded=excluded)
    needed = config.reporters_needed(min_reporters())
    return frame, {n: (s, find_episodes(s, frame.lead, config, needed)) for n, s in series.items()}


def scan(con, at: datetime | None = None, *, config: DetectorConfig | None = None,
         lookback: timedelta = LOOKBACK, now: datetime | None = None) -> ScanResult:
    """Scan the ``lookback`` before ``at`` (default: now) and store what is found."""
    at = at or datetime.now(UTC)
    return replay(con, at - lookback, at, config=config, now=now)


def replay(con, since: datetime, until: datetime, *, config: DetectorConfig | None = None,
           now: datetime | None = None) -> ScanResult:
    """Detect over [since, until) chunk by chunk, storing incidents as of each chunk's end."""
    config = config or DetectorConfig()
    now = now or datetime.now(UTC)
    result = ScanResult(start=since, end=until)
    with cursor(con) as cur:
        position = floor_minute(since)
        while position < until:
            start = _extended_start(cur, position, until)
            if start == position and not outages_sql.open_incidents(cur):
                upcoming = outages_sql.next_report_time(cur, position)
                if upcoming is None or upcoming >= until:
                    break
                if upcoming - position > MARGIN + LOOKBACK:  # jump over a stretch without reports
                    position = start = floor_minute(upcoming - LOOKBACK)
            end = min(until, max(start + CHUNK, position + timedelta(minutes=1)))
            _run(cur, start, end, config, now, result)
            _advance_state(cur, end, now)  # progress is visible (GET /api/v1/status) during a long catch-up
            position = end
        _advance_state(cur, until, now)
    return result


def _advance_state(cur, until: datetime, now: datetime) -> None:
    scanned, received = outages_sql.scan_state(cur)
    if scanned is None or until > scanned:
        outages_sql.save_scan_state(cur, until, received, now)


def _extended_start(cur, start: datetime, end: datetime) -> datetime:
    """``start``, moved back to an hour before any open or overlapping incident's onset."""
    for _ in range(5):
        touching = outages_sql.incidents_touching(cur, start, end)
        earliest = min((i["onset_at"] for i in touching), default=None)
        if earliest is None or earliest - MARGIN >= start:
            return start
        start = floor_minute(earliest - MARGIN)
    return start


def _run(cur, start: datetime, end: datetime, config: DetectorConfig, now: datetime, result: ScanResult) -> None:
    frame, found = detect(cur, start, end, config)
    stored = outages_sql.incidents_touching(cur, frame.start, frame.end)
    taken = outages_sql.incident_ids(cur)
    for network, (series, episodes) in found.items():
        mine = [i for i in stored if i["network"] == network]
        for episode in episodes:
            match = _match(episode, frame, mine)
            if match is not None:
                mine.remove(match)
            row, history, areas = _incident_row(cur, episode, series, frame, config, match, now, taken)
            taken.add(row["incident_id"])
            if match is None or match["status"] != row["status"] or match["status"] == "withdrawn":
                event = "opened" if match is None else row["status"]
                result.events.append((row["incident_id"], event, row["changed_at"]))
            outages_sql.save_incident(cur, row, history, areas)
            result.incident_ids.append(row["incident_id"])
        for orphan in mine:  # no longer supported by the reports (e.g. flagged by moderation)
            # Only incidents inside this frame, computed from no more data than it holds.
            inside = frame.start <= orphan["onset_at"] < frame.end and orphan["as_of"] <= frame.end
            if inside and orphan["status"] != "withdrawn":
                outages_sql.withdraw_incident(cur, orphan["incident_id"], frame.end, frame.end, now, "withdrawn")
                result.events.append((orphan["incident_id"], "withdrawn", frame.end))


def _match(episode: Episode, frame: Frame, stored: list[dict]) -> dict | None:
    """The stored incident of the same network whose period overlaps the episode's."""
    begin = frame.time_of(episode.onset)
    finish = frame.time_of(episode.end) if episode.end is not None else frame.end
    slack = timedelta(minutes=5)
    for incident in stored:
        stop = incident["ended_at"] or incident["resolved_at"] or incident["as_of"]
        if begin <= stop + slack and incident["onset_at"] <= finish + slack:
            return incident
    return None


def new_incident_id(network: str, onset: datetime, taken: set[str]) -> str:
    """'KT-20211025-1116' (local onset time); a suffix keeps it unique."""
    local = onset.astimezone(load_city().tz)
    base = f"{network.replace('+', '')}-{local:%Y%m%d-%H%M}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _incident_row(cur, episode: Episode, series: NetworkSeries, frame: Frame, config: DetectorConfig,
                  match: dict | None, now: datetime, taken: set[str]):
    codes = district_codes()
    onset = frame.time_of(episode.onset)
    stop_index = episode.end if episode.end is not None else episode.last + 1
    stop = frame.time_of(stop_index)
    finding = affected_districts(series, episode, config)
    until = max(stop, onset + timedelta(minutes=1))
    totals = outages_sql.area_totals(cur, network=series.network, start=onset, end=until)
    by_code = {row.sig_cd: row for row in totals.itertuples()}
    k = min_reporters()
    areas = []
    for i in np.flatnonzero(finding.named):
        row = by_code.get(codes[i])
        if row is not None and row.reporters >= k:  # privacy: a district is named only with k reporters
            areas.append((codes[i], int(row.reporters), int(finding.observed[i]), float(finding.expected[i])))
    area_codes = list(codes) if finding.citywide else [a[0] for a in areas]
    area_idx = {0} if finding.citywide else {codes.index(c) + 1 for c in area_codes}
    counts, expected = area_series(series, area_idx)
    peak_at, peak_ratio, peak_count = _peak(counts, expected, episode.onset, stop_index)
    recent_obs = trailing_sums(counts, 15)[-1]
    recent_exp = trailing_sums(expected, 15)[-1]
    in_area = totals[totals["sig_cd"].isin(area_codes)]
    reports = int(in_area["reports"].sum())
    demo = int(in_area["demo_reports"].sum())
    history = [(status, frame.time_of(m + 1), note) for status, m, note in episode.history]
    row = {
        "incident_id": match["incident_id"] if match else new_incident_id(series.network, onset, taken),
        "network": series.network,
        "status": episode.status,
        "confirmed": episode.confirmed,
        "scope": "city" if finding.citywide else "districts",
        "onset_at": onset,
        "detected_at": frame.time_of(episode.detected + 1),
        "ended_at": frame.time_of(episode.end) if episode.end is not None else None,
        "resolved_at": frame.time_of(episode.resolved + 1) if episode.resolved is not None else None,
        "changed_at": history[-1][1],
        "as_of": frame.end,
        "peak_at": frame.time_of(peak_at + 1),
        "peak_ratio": peak_ratio,
        "peak_reporters": peak_count,
        "recent_reporters": int(recent_obs),
        "recent_expected": float(recent_exp) if np.isfinite(recent_exp) else None,
        "reporters": outages_sql.reporters_in(cur, network=series.network, start=onset, end=until, sig_cds=area_codes),
        "reports": reports,
        "expected": float(np.nansum(expected[episode.onset:stop_index])),
        "synthetic": reports > 0 and demo * 2 >= reports,
        "created_at": match["created_at"] if match else now,
        "updated_at": now,
    }
    if match is not None and _same(match, row):
        row["updated_at"] = match["updated_at"]
    return row, history, areas


def _same(old: dict, new: dict) -> bool:
    keys = ("status", "scope", "onset_at", "ended_at", "resolved_at", "reporters", "reports")
    return all(old.get(k) == new.get(k) for k in keys)


def _peak(counts: np.ndarray, expected: np.ndarray, start: int, stop: int) -> tuple[int, float, int]:
    """(minute, observed / usual, observed) of the busiest 15-minute window in [start, stop)."""
    observed = trailing_sums(counts, 15)[start:max(stop, start + 1)]
    usual = np.maximum(np.nan_to_num(trailing_sums(expected, 15)[start:max(stop, start + 1)], nan=RATIO_FLOOR),
                       RATIO_FLOOR)
    ratio = observed / usual
    best = int(np.argmax(ratio))
    return start + best, float(ratio[best]), int(observed[best])
