"""A reporter's own reports, found by their private code, with place names."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from core.city import load_city
from core.errors import InputError
from geo.places import place_of
from ingest.codes import charge_miss, check_lookup, is_issued
from ingest.identity import code_key, keyed_hash
from store import evidence_sql

MIN_CODE_CHARS = 8  # site codes have 12; shorter ones are too easy to guess
MAX_OWN_REPORTS = 5000

# Local hours of day in six 4-hour buckets (bucket = hour // 4).
TIME_BUCKETS: dict[int, dict[str, str]] = {
    0: {"ko": "심야(0–4시)", "en": "late night (0–4)"},
    1: {"ko": "새벽(4–8시)", "en": "early morning (4–8)"},
    2: {"ko": "오전(8–12시)", "en": "morning (8–12)"},
    3: {"ko": "오후(12–16시)", "en": "afternoon (12–16)"},
    4: {"ko": "저녁(16–20시)", "en": "evening (16–20)"},
    5: {"ko": "밤(20–24시)", "en": "night (20–24)"},
}


def reporter_of(code: str) -> int:
    """The stored (keyed-hash) identity of a reporter code; InputError when it cannot be a code."""
    normalised = code_key(code or "")  # as the loader stores it: cut at 64 characters, then normalised
    if len(normalised) < MIN_CODE_CHARS:
        raise InputError("code", code,
                         "a reporter code has 16 letters and digits, e.g. K7QX-M2PA-9RTB-C4DE (older codes: 12)")
    return keyed_hash("code", normalised)


def model_key(device_model: str | None) -> str:
    """A phone model folded as evidence_sql.MODEL_KEY_SQL folds it."""
    return re.sub(r"[^0-9a-z가-힣]", "", (device_model or "").lower())


def my_reports(cur, code: str, *, ip: str | None = None) -> pd.DataFrame:
    """The code holder's reports, oldest first, with local time, bucket, district, dong and station.

    With ``ip`` (the client's address), guessing is limited: once the client's network prefix has
    tried DROPMAP_LOOKUPS_PER_PREFIX codes that found nothing in an hour, lookups raise
    ingest.abuse.RateLimitedError (ingest.codes.check_lookup). A code the site issued is never
    refused or counted: nobody can guess one (its 50 random bits must match a stored code, and a
    string without the site's MAC is not an issued code), so a neighbour who fills the network's
    count cannot lock its holder out of their own reports.
    """
    issued = is_issued(code)
    if not issued:
        check_lookup(ip)
    frame = evidence_sql.reports_of(cur, reporter_of(code), MAX_OWN_REPORTS)
    if frame.empty:
        if not issued:
            charge_miss(ip)
        return frame
    return with_places(frame)


def with_places(frame: pd.DataFrame) -> pd.DataFrame:
    """Reports (as the store returns them) with local time, bucket, district, dong and nearest station.

    A report anywhere gets names: "" for a district or dong where there is none (the river, a park,
    outside Seoul); the nearest station always exists.
    """
    if frame.empty:
        return frame
    tz = load_city().tz
    frame["local_time"] = pd.to_datetime(frame["observed_at"], utc=True).dt.tz_convert(tz)
    frame["bucket"] = frame["local_time"].dt.hour // 4
    places = {key: place_of(*key) for key in set(zip(frame["lat"], frame["lon"], strict=True))}
    keys = list(zip(frame["lat"], frame["lon"], strict=True))
    # Names as text, "" where there is none (on the river, in a park, outside Seoul): a missing name is
    # not a number, and pandas would store None in a string column as a float NaN.
    frame["gu"] = pd.Series([places[k]["gu"].name_ko if places[k]["gu"] else "" for k in keys], dtype=object,
                               index=frame.index)
    frame["dong"] = pd.Series([places[k]["dong"].name_ko if places[k]["dong"] else "" for k in keys],
                              dtype=object, index=frame.index)
    frame["station"] = pd.Series([places[k]["station"].name for k in keys], dtype=object,
                               index=frame.index)
    frame["station_m"] = np.array([places[k]["station_m"] for k in keys]).round(-1)
    return frame


def failures_of(mine: pd.DataFrame) -> pd.DataFrame:
    """The reports that count as evidence: failures not flagged."""
    if mine.empty:
        return mine
    return mine[(mine["kind"] != "ok") & (mine["status"] == "ok")]


def main_network(mine: pd.DataFrame) -> str | None:
    """The network most of the reporter's failures name."""
    failures = failures_of(mine)
    return None if failures.empty else str(failures["network"].mode().iloc[0])


def main_model(mine: pd.DataFrame) -> str | None:
    """The phone model most of the reporter's failures name (as typed), if any."""
    failures = failures_of(mine)
    models = failures["device_model"].dropna() if not failures.empty else pd.Series(dtype=object)
    models = models[models.map(model_key) != ""]
    return None if models.empty else str(models.mode().iloc[0])
