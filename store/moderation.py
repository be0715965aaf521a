"""Moderation by the site's operator: flagged reports, suspected Sybil clusters, restore or flag, a log.

Reports stay append-only: moderation changes only ``status`` ('ok' or
'flagged') and ``flag_reason``, never deletes, and records every action in
``moderation_log`` (who: the operator token's id, when, what, why). Public
outputs leave flagged reports out, so flagging a cluster takes it out of the
map, the exports and the outage detector at once (an incident that rested on
it is withdrawn by ``outages.moderation``).

A *suspected Sybil cluster* is one source posing as many reporters: within
one window (``ClusterRules.window_minutes``),

- ``ip``: at least ``min_codes`` reporter codes from one address (``ip_hash``);
- ``prefix``: the same from one network prefix (``prefix_hash``);
- ``burst``: at least ``burst_codes`` codes never seen before, first seen together, on one network;
- ``device``: ``min_codes`` codes sending the same phone model, network type, kind and stated accuracy;
- ``timing``: ``min_codes`` codes claiming the very same second on one network.

These are leads for a person to judge, not verdicts: a real outage also
brings new reporters at once. Nothing is flagged without the operator. Demo
reports (``source='demo'``) are left out: the whole synthetic city arrives at
once and would be one giant cluster of every kind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.errors import InputError
from store import moderation_sql

KINDS = ("ip", "prefix", "burst", "device", "timing")
REASON_CHARS = 300


@dataclass(frozen=True)
class ClusterRules:
    window_minutes: int = 10
    min_codes: int = 5
    burst_codes: int = 15
    lookback: timedelta = timedelta(days=7)


def cluster_key(cluster: dict) -> str:
    """A stable name of a cluster for the log: 'ip:1a2b3c@2026-12-07T01:20Z'."""
    key = cluster["key"]
    if isinstance(key, dict):
        key = "|".join("" if v is None else str(v) for v in key.values())
    return f"{cluster['kind']}:{key}@{cluster['window_start'].astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def sybil_clusters(cur, rules: ClusterRules | None = None, *, now: datetime | None = None) -> list[dict]:
    """Suspected clusters received in the last ``rules.lookback``, biggest first, each with its
    ``kind``, ``key``, ``window_start``, ``codes``, ``reports``, ``flagged``, ``networks``, ``districts``,
    ``report_ids``, a ``reason`` in Korean and English (``reason_ko``, ``reason_en``) and ``cluster_id``."""
    rules = rules or ClusterRules()
    now = now or datetime.now(UTC)
    out = []
    for kind in KINDS:
        needed = rules.burst_codes if kind == "burst" else rules.min_codes
        for row in moderation_sql.shared_clusters(cur, kind, since=now - rules.lookback, until=now,
                                                  window_minutes=rules.window_minutes, min_codes=needed):
            row["kind"] = kind
            row["report_ids"] = [str(i) for i in row["report_ids"]]
            row["districts"] = row["districts"] or []
            row["reason_ko"], row["reason_en"] = _reason(row, rules)
            row["cluster_id"] = cluster_key(row)
            out.append(row)
    out.sort(key=lambda c: (-c["codes"], c["first_at"]))
    return out


def _reason(c: dict, rules: ClusterRules) -> tuple[str, str]:
    seconds = max(0, round((c["last_at"] - c["first_at"]).total_seconds()))
    n, w = c["codes"], rules.window_minutes
    span_ko, span_en = f"{seconds}초 사이", f"within {seconds} s"
    key = c["key"]
    if c["kind"] == "ip":
        return (f"한 주소(해시 {key}…)에서 제보자 코드 {n}개, {span_ko}",
                f"{n} reporter codes from one address (hash {key}…), {span_en}")
    if c["kind"] == "prefix":
        return (f"한 네트워크 대역(해시 {key}…)에서 제보자 코드 {n}개, {span_ko}",
                f"{n} reporter codes from one network prefix (hash {key}…), {span_en}")
    if c["kind"] == "burst":
        return (f"처음 보는 코드 {n}개가 {w}분 안에 한꺼번에 {key} 장애를 제보",
                f"{n} codes never seen before first appeared within {w} min, all reporting {key}")
    values = list(key.values())
    if c["kind"] == "device":
        pattern = f"{values[0]} · {values[1]} · {values[2]} · {values[3]} · ±{values[4]} m"
        return (f"코드 {n}개가 같은 기기·망·종류·정확도({pattern}), {span_ko}",
                f"{n} codes with the same phone, network type, kind and accuracy ({pattern}), {span_en}")
    at = values[0].astimezone(UTC)
    return (f"코드 {n}개가 {values[1]} 장애를 정확히 같은 초({at:%Y-%m-%d %H:%M:%S} UTC)에 관측했다고 제보",
            f"{n} codes claim the very same second ({at:%Y-%m-%d %H:%M:%S} UTC) on {values[1]}")


def flagged_reports(cur, *, limit: int = 500) -> list[dict]:
    """The newest flagged reports with their reasons (hashes shortened to 6 hex digits)."""
    return moderation_sql.flagged_reports(cur, limit=limit)


def reports_by_id(cur, report_ids: list[str]) -> list[dict]:
    """These reports, shaped like ``flagged_reports``."""
    return moderation_sql.reports_by_id(cur, report_ids)


def report_ids_from_text(text: str) -> list[str]:
    """Report ids typed or pasted (separated by spaces, commas or new lines), checked to be UUIDs."""
    ids = []
    for part in text.replace(",", " ").split():
        try:
            ids.append(str(uuid.UUID(part)))
        except ValueError:
            raise InputError("report_id", part, "a report id like 3f2b…-…: copy it from the table") from None
    return list(dict.fromkeys(ids))


def _why(reason: str) -> str:
    reason = " ".join(str(reason or "").split())[:REASON_CHARS]
    if not reason:
        raise InputError("reason", reason, "say why (it goes into the moderation log)")
    return reason


def flag_reports(cur, report_ids: list[str], *, operator: str, reason: str, target: str = "report",
                 target_id: str | None = None, now: datetime | None = None) -> list[str]:
    """Flag the reports (left out of every public output from then on); returns the ids changed."""
    why = _why(reason)
    log = _log_entry("flag", operator, why, target, target_id, report_ids, now)
    return moderation_sql.set_status(cur, report_ids, status="flagged", flag_reason=f"moderation: {why}", log=log)


def restore_reports(cur, report_ids: list[str], *, operator: str, reason: str, target: str = "report",
                    target_id: str | None = None, now: datetime | None = None) -> list[str]:
    """Restore the reports to 'ok' (they count again); returns the ids changed."""
    log = _log_entry("restore", operator, _why(reason), target, target_id, report_ids, now)
    return moderation_sql.set_status(cur, report_ids, status="ok", flag_reason=None, log=log)


def flag_cluster(cur, cluster: dict, *, operator: str, reason: str, now: datetime | None = None) -> list[str]:
    return flag_reports(cur, cluster["report_ids"], operator=operator, reason=reason, target="cluster",
                        target_id=cluster["cluster_id"], now=now)


def restore_cluster(cur, cluster: dict, *, operator: str, reason: str, now: datetime | None = None) -> list[str]:
    return restore_reports(cur, cluster["report_ids"], operator=operator, reason=reason, target="cluster",
                           target_id=cluster["cluster_id"], now=now)


def _log_entry(action: str, operator: str, why: str, target: str, target_id: str | None, report_ids: list[str],
               now: datetime | None) -> dict:
    if not report_ids:
        raise InputError("report_id", "", "choose at least one report")
    if target_id is None:
        target_id = report_ids[0] if len(report_ids) == 1 else f"{len(report_ids)} reports"
    return {"at": now or datetime.now(UTC), "operator": operator, "action": action, "target": target,
            "target_id": target_id, "reason": why}


def incidents_resting_on(cur, report_ids: list[str]) -> list[dict]:
    """Incidents (not withdrawn) whose carrier, period and area hold some of these failure reports."""
    return moderation_sql.incidents_resting_on(cur, report_ids)


def moderation_log(cur, *, limit: int = 200) -> list[dict]:
    return moderation_sql.moderation_log(cur, limit=limit)


def log_withdrawal(cur, incident_id: str, *, operator: str, reason: str, now: datetime | None = None) -> None:
    moderation_sql.log_action(cur, {"at": now or datetime.now(UTC), "operator": operator, "action": "withdraw",
                                    "target": "incident", "target_id": incident_id, "reason": _why(reason)})
