"""The compensation clock: an incident's duration against the carrier's terms (data/compensation.json).

An estimate, not a legal determination: the duration is the one inferred from
crowd reports (onset to estimated end), and the terms are the ones configured
per carrier, chosen by the incident's onset date.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from core.city import load_city
from core.errors import InputError
from core.settings import DATA_DIR

TERMS_FILE = DATA_DIR / "compensation.json"


@dataclass(frozen=True)
class Terms:
    key: str
    name: dict
    effective_from: date | None
    effective_until: date | None
    min_consecutive_hours: float
    monthly_cumulative_hours: float | None
    multiplier: float
    basis: dict
    note: dict  # {'ko': ..., 'en': ...}
    sources: tuple[dict, ...]

    def in_force(self, day: date) -> bool:
        return ((self.effective_from is None or day >= self.effective_from)
                and (self.effective_until is None or day <= self.effective_until))


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


@lru_cache(maxsize=4)
def load_config(path: str = str(TERMS_FILE)) -> dict:
    """The parsed configuration: {'disclaimer', 'terms': {key: Terms}, 'carriers': {network: [key]}}."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    terms = {
        key: Terms(key=key, name=t["name"], effective_from=_day(t.get("effective_from")),
                   effective_until=_day(t.get("effective_until")),
                   min_consecutive_hours=float(t["min_consecutive_hours"]),
                   monthly_cumulative_hours=(float(t["monthly_cumulative_hours"])
                                             if t.get("monthly_cumulative_hours") is not None else None),
                   multiplier=float(t["multiplier"]), basis=t["basis"], note=t.get("note") or {"ko": "", "en": ""},
                   sources=tuple(t.get("sources", ())))
        for key, t in raw["terms"].items()
    }
    for network, keys in raw["carriers"].items():
        for key in keys:
            if key not in terms:
                raise InputError("carriers", f"{network}: {key}", f"unknown terms; define it under 'terms' in {path}")
    return {"disclaimer": raw["disclaimer"], "terms": terms, "carriers": raw["carriers"]}


def terms_for(network: str, when: datetime, *, path: str = str(TERMS_FILE)) -> Terms | None:
    """The carrier's terms in force on the (local) day of ``when``; None when none is configured."""
    config = load_config(path)
    day = when.astimezone(load_city().tz).date()
    for key in config["carriers"].get(network, []):
        if config["terms"][key].in_force(day):
            return config["terms"][key]
    return None


def estimated_amount(monthly_fee: float, minutes: float, multiplier: float, month_days: int) -> float:
    """multiplier x the fee for the outage time (the month's fee spread over its minutes)."""
    return monthly_fee * multiplier * minutes / (month_days * 24 * 60)


def clock(network: str, onset: datetime, minutes: float, month_minutes: float, *,
          monthly_fee: float | None = None, path: str = str(TERMS_FILE)) -> dict:
    """Where an incident stands against the terms.

    ``minutes``: its duration (consecutive); ``month_minutes``: the carrier's
    cumulative outage time in that month, this incident included. Returns the
    terms, the thresholds, whether either is met, and an estimated amount for
    ``monthly_fee`` when it is met.
    """
    terms = terms_for(network, onset, path=path)
    if terms is None:
        return {"terms": None, "eligible": False}
    consecutive = terms.min_consecutive_hours * 60
    cumulative = terms.monthly_cumulative_hours * 60 if terms.monthly_cumulative_hours else None
    by_consecutive = minutes >= consecutive
    by_month = cumulative is not None and month_minutes > cumulative
    local = onset.astimezone(load_city().tz)
    month_days = calendar.monthrange(local.year, local.month)[1]
    counted = month_minutes if by_month and not by_consecutive else minutes
    amount = None
    if monthly_fee is not None and (by_consecutive or by_month):
        amount = estimated_amount(monthly_fee, counted, terms.multiplier, month_days)
    return {
        "terms": terms, "minutes": minutes, "month_minutes": month_minutes,
        "consecutive_threshold": consecutive, "monthly_threshold": cumulative,
        "by_consecutive": by_consecutive, "by_month": by_month, "eligible": by_consecutive or by_month,
        "remaining_minutes": max(consecutive - minutes, 0.0), "multiplier": terms.multiplier,
        "amount": amount,
    }


def monthly_outage_minutes(periods: list[tuple[str, datetime, datetime]]) -> dict[tuple[str, str], float]:
    """{(network, 'YYYY-MM'): minutes} of outage time, split at (local) month boundaries.

    Overlapping incidents of one carrier are merged first, so time is never counted twice.
    """
    tz = load_city().tz
    merged: dict[str, list[list[datetime]]] = {}
    for network, onset, end in sorted(periods, key=lambda p: (p[0], p[1])):
        spans = merged.setdefault(network, [])
        if spans and onset <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([onset, end])
    out: dict[tuple[str, str], float] = {}
    for network, spans in merged.items():
        for onset, end in spans:
            t = onset.astimezone(tz)
            end = end.astimezone(tz)
            while t < end:
                month_start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                next_month = (month_start + timedelta(days=32)).replace(day=1)
                stop = min(end, next_month)
                key = (network, f"{t:%Y-%m}")
                out[key] = out.get(key, 0.0) + (stop - t).total_seconds() / 60
                t = stop
    return out
