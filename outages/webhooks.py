"""Optional webhooks: tell configured URLs when an incident opens or changes status.

Configured in a JSON file (``DROPMAP_WEBHOOKS``, default data/webhooks.json;
no file, no webhooks)::

    {"hooks": [{"url": "https://newsroom.example/dropmap", "secret": "shared secret",
                "events": ["opened", "ongoing", "recovering", "resolved", "withdrawn"]}]}

``secret_env`` may name an environment variable holding the secret instead.
Each delivery is a JSON POST signed with HMAC-SHA256 of the exact body
(header ``X-DropMap-Signature: sha256=<hex>``). The detector only queues
deliveries (table webhook_deliveries); a separate thread sends them and
retries failures with exponential back-off, so a slow receiver never blocks
detection or the site.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from core import settings
from core.errors import InputError
from outages.public import load_public
from store import outages_sql

log = logging.getLogger("dropmap.outages.webhooks")
EVENTS = ("opened", "ongoing", "recovering", "resolved", "withdrawn")
MAX_ATTEMPTS = 8
RECENT = timedelta(hours=1)  # replays of old data never notify anyone


@dataclass(frozen=True)
class Hook:
    url: str
    secret: bytes
    events: tuple[str, ...]


def config_path() -> Path:
    return Path(settings.get("DROPMAP_WEBHOOKS"))


def load_hooks(path: Path | None = None) -> list[Hook]:
    """The configured hooks; an empty list when the file does not exist."""
    path = path or config_path()
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError("DROPMAP_WEBHOOKS", str(path), f"not a readable JSON file ({e}); see docs/OUTAGES.md") from e
    hooks = []
    for i, item in enumerate(raw.get("hooks", [])):
        url = str(item.get("url", ""))
        if not url.startswith(("http://", "https://")):
            raise InputError(f"hooks[{i}].url", url.split(":", 1)[0][:10] + ":…",  # the URL may be a secret
                             "an http:// or https:// URL")
        secret = item.get("secret") or os.environ.get(item.get("secret_env", ""), "")
        if not secret:
            raise InputError(f"hooks[{i}].secret", None,
                             "give 'secret' or 'secret_env' (the receiver verifies with it)")
        events = tuple(item.get("events") or EVENTS)
        for event in events:
            if event not in EVENTS:
                raise InputError(f"hooks[{i}].events", event, f"use any of {', '.join(EVENTS)}")
        hooks.append(Hook(url=url, secret=str(secret).encode("utf-8"), events=events))
    return hooks


def signature(secret: bytes, body: bytes) -> str:
    """The value of X-DropMap-Signature for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def enqueue(cur, events: list[tuple[str, str, datetime]], hooks: list[Hook], *, now: datetime) -> int:
    """Queue one delivery per (recent event, interested hook); returns how many were queued."""
    recent = [(i, e) for i, e, at in events if at >= now - RECENT]
    if not hooks or not recent:
        return 0
    rows = []
    for incident_id, event in recent:
        incident = outages_sql.get_incident(cur, incident_id)
        if incident is None:
            continue
        payload = {"event": event, "incident": load_public(cur, [incident])[0],
                   "sent_by": "DropMap (끊김지도)", "queued_at": now.isoformat()}
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        for hook in hooks:
            if event in hook.events:
                rows.append((str(uuid.uuid4()), incident_id, event, hook.url, body, now, now))
    outages_sql.add_deliveries(cur, rows)
    return len(rows)


def backoff(attempts: int, base_seconds: float) -> timedelta:
    """Wait before the next try: base, 2 x base, 4 x base ... at most an hour."""
    return timedelta(seconds=min(base_seconds * 2 ** max(attempts - 1, 0), 3600))


def deliver_due(cur, hooks: list[Hook], *, now: datetime | None = None, timeout: float = 5.0,
                base_seconds: float = 30.0, still_held: Callable[[], bool] | None = None) -> list[tuple[str, str]]:
    """Send every due delivery once; returns [(delivery_id, 'delivered' | 'pending' | 'failed')].

    ``still_held`` (the detector's lease, outages.lease) is asked before each delivery: once it says no,
    the rest are left to the replica that holds the lease now."""
    now = now or datetime.now(UTC)
    secrets = {h.url: h.secret for h in hooks}
    outcomes = []
    for delivery in outages_sql.due_deliveries(cur, now):
        if still_held is not None and not still_held():
            break
        secret = secrets.get(delivery["url"])
        attempts = delivery["attempts"] + 1
        error = None
        if secret is None:
            error = "hook no longer configured"
        else:
            error = _post(delivery, secret, timeout)
        if error is None:
            status, when = "delivered", now
        else:
            status = "failed" if attempts >= MAX_ATTEMPTS or secret is None else "pending"
            when = None
            # The URL itself is often the receiver's secret (a token in its path or query): never logged.
            log.warning("webhook %s to %s: %s (attempt %d)", delivery["event"], redacted_url(delivery["url"]),
                        error, attempts)
        outages_sql.mark_delivery(cur, delivery["delivery_id"], status=status, attempts=attempts,
                           next_attempt_at=now + backoff(attempts, base_seconds), error=error, delivered_at=when)
        outcomes.append((str(delivery["delivery_id"]), status))
    return outcomes


def redacted_url(url: str) -> str:
    """A webhook URL as it may be logged: scheme and host only (``https://hooks.example/…``)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


def _post(delivery: dict, secret: bytes, timeout: float) -> str | None:
    """POST one delivery; None on a 2xx answer, else the reason."""
    body = delivery["body"].encode("utf-8")
    request = urllib.request.Request(delivery["url"], data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "DropMap-webhook/1",
        "X-DropMap-Event": delivery["event"],
        "X-DropMap-Delivery": str(delivery["delivery_id"]),
        "X-DropMap-Signature": signature(secret, body),
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https checked)
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        return str(getattr(e, "reason", e)).replace(delivery["url"], redacted_url(delivery["url"]))
    except ValueError:  # http.client.InvalidURL and the like name the URL: say only what went wrong
        return "invalid URL"
