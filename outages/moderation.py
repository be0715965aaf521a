"""The operator withdraws an incident that rested on reports found to be fake (see store.moderation).

Withdrawing reuses the detector's own step (``outages_sql.withdraw_incident``, status
'withdrawn', note 'withdrawn'), so the banner, the status API, the feeds and
the webhooks treat it exactly as a withdrawal found by a scan. Flag the
reports first: the next scan recomputes recent incidents from the reports
(``outages.scan``), and reports still counted would open it again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.errors import InputError
from outages import webhooks
from store import moderation, outages_sql


def withdraw(cur, incident_id: str, *, operator: str, reason: str, now: datetime | None = None) -> bool:
    """Withdraw the incident and log who did it and why; False when it was withdrawn already."""
    now = now or datetime.now(UTC)
    incident = outages_sql.get_incident(cur, incident_id)
    if incident is None:
        raise InputError("incident_id", incident_id, "no such incident; copy its id from the list")
    if incident["status"] == "withdrawn":
        return False
    moderation.log_withdrawal(cur, incident_id, operator=operator, reason=reason, now=now)
    outages_sql.withdraw_incident(cur, incident_id, now, incident["as_of"], now, "withdrawn")
    hooks = webhooks.load_hooks()
    if hooks:
        webhooks.enqueue(cur, [(incident_id, "withdrawn", now)], hooks, now=now)
    return True


def withdrawable_incidents(cur, *, limit: int = 50) -> list[dict]:
    """The newest incidents not yet withdrawn (id, network, status, onset, reporters, reports)."""
    keep = ("suspected", "ongoing", "recovering", "resolved")
    return [{k: row[k] for k in ("incident_id", "network", "status", "onset_at", "reporters", "reports")}
            for row in outages_sql.list_incidents(cur, statuses=keep, limit=limit)]
