"""What the public sees of an incident: one JSON-able dict, and its sentences in Korean and English.

Used by the CLI, the HTTP API, the Atom feed, webhooks, the banner and the
incident pages, so they all say the same thing. Nothing here carries a
coordinate, a note or a reporter: districts are named only when at least k
distinct reporters reported there (see outages.scan), and every count of
people shown (last 15 minutes, peak, a district's first reports, the total) is
0 or at least k, else null ("fewer than k"): a recovering incident's last few
reporters are not published one by one.
"""

from __future__ import annotations

from datetime import datetime

from core.city import load_city
from core.vocab import NETWORK_NAMES
from geo.places import district_by_code
from geo.privacy import min_reporters
from store import outages_sql

STATUS_NAMES = {
    "suspected": {"ko": "장애 의심", "en": "Suspected outage"},
    "ongoing": {"ko": "장애 진행 중", "en": "Ongoing outage"},
    "recovering": {"ko": "복구 중", "en": "Recovering"},
    "resolved": {"ko": "해소", "en": "Resolved"},
    "withdrawn": {"ko": "철회", "en": "Withdrawn"},
}
NOTE_NAMES = {
    "unconfirmed": {"ko": "확인되지 않음(짧은 급증)", "en": "not confirmed (a short burst)"},
    "relapse": {"ko": "다시 악화", "en": "worse again"},
    "withdrawn": {"ko": "제보가 더 이상 뒷받침하지 않음(예: 검토로 제외)",
                  "en": "the reports no longer support it (e.g. removed by moderation)"},
    "too_long": {"ko": "3일 넘게 지속되어 종료 처리", "en": "closed after lasting over 3 days"},
}
RATIO_FLOOR = 1.0


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(load_city().tz).isoformat()


def duration_minutes(row: dict) -> int:
    """Minutes from onset to the estimated end (or to the data's end while open)."""
    stop = row["ended_at"] or row["as_of"]
    return max(0, round((stop - row["onset_at"]).total_seconds() / 60))


def people(count: int | None, k: int | None = None) -> int | None:
    """A count of people as published: itself when 0 or at least k, else None (shown as "<k")."""
    if count is None:
        return None
    k = k or min_reporters()
    return int(count) if count == 0 or count >= k else None


def recent_ratio(row: dict) -> float | None:
    """Reporters in the last 15 minutes over the usual number (at least 1); None when fewer than k.

    The usual number is published, so the ratio would give the count back.
    """
    if row.get("recent_expected") is None or people(row["recent_reporters"]) is None:
        return None
    return row["recent_reporters"] / max(row["recent_expected"], RATIO_FLOOR)


def people_text(count: int | None, lang: str) -> str:
    """'12명' / '12', or '5명 미만' / 'fewer than 5'."""
    shown = people(count)
    if shown is not None:
        return f"{shown:,}명" if lang == "ko" else f"{shown:,}"
    k = min_reporters()
    return f"{k}명 미만" if lang == "ko" else f"fewer than {k}"


def public_incident(row: dict, history: list, areas: list[dict]) -> dict:
    """The incident as published (API, CLI, feeds, webhooks)."""
    districts = []
    for area in areas:
        place = district_by_code(area["sig_cd"])
        districts.append({"code": area["sig_cd"], "name_ko": place.name_ko if place else area["sig_cd"],
                          "name_en": place.name_en if place else area["sig_cd"], "reporters": people(area["reporters"]),
                          "first_reports": people(area["observed"]), "usual": round(area["expected"], 2)})
    ratio = recent_ratio(row)
    return {
        "id": row["incident_id"],
        "carrier": row["network"],
        "carrier_name": NETWORK_NAMES[row["network"]],
        "status": row["status"],
        "status_name": STATUS_NAMES[row["status"]],
        "confirmed": row["confirmed"],
        "scope": row["scope"],
        "districts": districts,
        "onset": _iso(row["onset_at"]),
        "detected_at": _iso(row["detected_at"]),
        "ended_at": _iso(row["ended_at"]),
        "resolved_at": _iso(row["resolved_at"]),
        "duration_minutes": duration_minutes(row),
        "as_of": _iso(row["as_of"]),
        "peak": {"at": _iso(row["peak_at"]), "ratio": round(row["peak_ratio"] or 0, 1),
                 "reporters_15min": people(row["peak_reporters"])},
        "last_15min": {"reporters": people(row["recent_reporters"]),
                       "usual": None if row["recent_expected"] is None else round(row["recent_expected"], 2),
                       "ratio": None if ratio is None else round(ratio, 1)},
        "reporters": people(row["reporters"]),
        "reports": row["reports"] if people(row["reporters"]) is not None else None,
        "synthetic": row["synthetic"],
        "history": [{"status": s, "at": _iso(at), "reason": note} for s, at, note in history],
    }


def load_public(cur, rows: list[dict]) -> list[dict]:
    ids = [r["incident_id"] for r in rows]
    history, areas = outages_sql.history_of(cur, ids), outages_sql.areas_of(cur, ids)
    return [public_incident(r, history[r["incident_id"]], areas[r["incident_id"]]) for r in rows]


def area_text(row: dict, areas: list[dict], lang: str) -> str:
    """'서울 전역' or '마포구·용산구 외 3곳' (English: 'all of Seoul', 'Mapo-gu, Yongsan-gu and 3 more')."""
    if row["scope"] == "city":
        return "서울 전역" if lang == "ko" else "all of Seoul"
    names = []
    for area in areas:
        place = district_by_code(area["sig_cd"])
        names.append((place.name_ko if lang == "ko" else place.name_en) if place else area["sig_cd"])
    if not names:
        return "일부 지역" if lang == "ko" else "part of Seoul"
    shown, rest = names[:3], len(names) - 3
    if lang == "ko":
        return "·".join(shown) + (f" 외 {rest}곳" if rest > 0 else "")
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")


def _since(row: dict, lang: str) -> str:
    tz = load_city().tz
    onset = row["onset_at"].astimezone(tz)
    same_day = onset.date() == row["as_of"].astimezone(tz).date()
    if lang == "ko":
        return f"{onset:%H:%M}부터" if same_day else f"{onset.month}/{onset.day} {onset:%H:%M}부터"
    return f"since {onset:%H:%M}" if same_day else f"since {onset:%b} {onset.day} {onset:%H:%M}"


def banner_text(row: dict, areas: list[dict], lang: str) -> str:
    """'KT: 장애 의심 — 11:22부터 서울 전역, 최근 15분 제보자 312명 (평소의 38배)'."""
    carrier = NETWORK_NAMES[row["network"]][lang]
    status = STATUS_NAMES[row["status"]][lang]
    where = area_text(row, areas, lang)
    ratio = recent_ratio(row)
    if lang == "ko":
        text = (f"{carrier}: {status} — {_since(row, lang)} {where}, 최근 15분 제보자 "
                f"{people_text(row['recent_reporters'], lang)}")
        return text + (f" (평소의 {ratio:.0f}배)" if ratio is not None and ratio >= 1.5 else "")
    text = (f"{carrier}: {status} — {_since(row, lang)} in {where}, "
            f"{people_text(row['recent_reporters'], lang)} reporters in the last 15 minutes")
    return text + (f" ({ratio:.0f}× the usual)" if ratio is not None and ratio >= 1.5 else "")


def title_text(row: dict, areas: list[dict], lang: str) -> str:
    """A one-line title for lists and feeds: 'KT 장애 진행 중 — 서울 전역 (2021-10-25 11:16부터)', or for an
    ended incident its span: 'KT 해소 — 서울 전역 (2021-10-25 11:16–12:50)'."""
    tz = load_city().tz
    carrier = NETWORK_NAMES[row["network"]][lang]
    status = STATUS_NAMES[row["status"]][lang]
    onset = row["onset_at"].astimezone(tz)
    where = area_text(row, areas, lang)
    if row.get("ended_at") is not None:
        end = row["ended_at"].astimezone(tz)
        stop = f"{end:%H:%M}" if end.date() == onset.date() else f"{end:%Y-%m-%d %H:%M}"
        return f"{carrier} {status} — {where} ({onset:%Y-%m-%d %H:%M}–{stop})"
    if lang == "ko":
        return f"{carrier} {status} — {where} ({onset:%Y-%m-%d %H:%M}부터)"
    return f"{carrier} {status} — {where} (from {onset:%Y-%m-%d %H:%M})"


# The feed and webhook summary, one sentence a line, filled in by ``summary_text``.
_SUMMARY = {
    "ko": ("{carrier} 장애 제보 급증: {where}.",
           "추정 시작 {onset:%Y-%m-%d %H:%M}, 감지 {detected:%H:%M}{end} (지속 {hours}시간 {mins}분).",
           "제보자 {reporters}, 제보 {reports}건, 최대 평소의 {peak:.0f}배.",
           "상태: {status}."),
    "en": ("Surge of {carrier} failure reports in {where}.",
           "Estimated start {onset:%Y-%m-%d %H:%M}, detected {detected:%H:%M}{end} ({hours} h {mins} min).",
           "{reporters} reporters, {reports} reports, peak {peak:.0f}× the usual.",
           "Status: {status}."),
}
_SUMMARY_END = {"ko": ", 추정 종료 {:%H:%M}", "en": ", estimated end {:%H:%M}"}
_SUMMARY_SYNTHETIC = {"ko": "시연용 합성 데이터입니다(실제 장애가 아님).",
                      "en": "Synthetic demo data (not a real outage)."}


def summary_text(row: dict, areas: list[dict], lang: str) -> str:
    """A few sentences for feeds and webhooks: times, size, status, synthetic or not."""
    tz = load_city().tz
    hours, mins = divmod(duration_minutes(row), 60)
    ended = row["ended_at"]
    values = {
        "carrier": NETWORK_NAMES[row["network"]][lang], "where": area_text(row, areas, lang),
        "onset": row["onset_at"].astimezone(tz), "detected": row["detected_at"].astimezone(tz),
        "end": _SUMMARY_END[lang].format(ended.astimezone(tz)) if ended else "", "hours": hours, "mins": mins,
        "reporters": people_text(row["reporters"], lang),
        "reports": row["reports"] if people(row["reporters"]) is not None else "–", "peak": row["peak_ratio"],
        "status": STATUS_NAMES[row["status"]][lang],
    }
    parts = [line.format(**values) for line in _SUMMARY[lang]]
    if row["synthetic"]:
        parts.append(_SUMMARY_SYNTHETIC[lang])
    return " ".join(parts)


def _with_areas(cur, rows: list[dict]) -> list[tuple[dict, list[dict]]]:
    areas = outages_sql.areas_of(cur, [r["incident_id"] for r in rows])
    return [(r, areas[r["incident_id"]]) for r in rows]


def open_with_areas(cur) -> list[tuple[dict, list[dict]]]:
    """Open incidents (suspected, ongoing, recovering) with their named districts, oldest first."""
    return _with_areas(cur, outages_sql.open_incidents(cur))


def incidents_with_areas(cur, **filters) -> list[tuple[dict, list[dict]]]:
    """Incidents (newest onset first) with their named districts; filters as ``outages_sql.list_incidents``."""
    return _with_areas(cur, outages_sql.list_incidents(cur, **filters))


def incident_detail(cur, incident_id: str) -> tuple[dict, list[dict], list] | None:
    """(row, named districts, status history) of one incident, or None."""
    row = outages_sql.get_incident(cur, incident_id)
    if row is None:
        return None
    areas, history = outages_sql.areas_of(cur, [incident_id]), outages_sql.history_of(cur, [incident_id])
    return row, areas[incident_id], history[incident_id]


def duration_text(minutes: float, lang: str) -> str:
    hours, mins = divmod(int(round(minutes)), 60)
    if lang == "ko":
        return f"{hours}시간 {mins}분" if hours else f"{mins}분"
    return f"{hours} h {mins} min" if hours else f"{mins} min"
