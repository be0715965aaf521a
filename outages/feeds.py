"""Machine-readable outage status: a JSON document and an Atom 1.0 feed (RFC 4287).

The feed is built with ElementTree, so every text is escaped by the XML
writer; ids are stable ``urn:uuid`` values derived from incident ids, so a
feed reader sees an incident's updates as one entry.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import quote

from core import settings
from core.vocab import NETWORKS
from outages.public import incidents_with_areas, load_public, summary_text, title_text
from store import outages_sql

ATOM = "http://www.w3.org/2005/Atom"
_NAMESPACE = uuid.UUID("9c1f3f0e-4a55-5d0b-9a5e-0d6c0b1e2d11")  # DropMap's own namespace for uuid5 ids
FEED_TITLE = {"ko": "끊김지도 — 통신 장애 감지", "en": "DropMap — detected mobile-network outages"}
SYNTHETIC_TAG = {"ko": " [합성 데이터]", "en": " [synthetic]"}
# The most serious open status names a carrier's state: ongoing > suspected > recovering.
_STATUS_RANK = {"normal": 0, "recovering": 1, "suspected": 2, "ongoing": 3}
FEED_SUBTITLE = {
    "ko": "시민 제보의 급증으로 감지한 서울의 통신사별 장애. 추정치이며 통신사의 공식 발표가 아닙니다.",
    "en": "Carrier outages in Seoul detected from surges of residents' reports. "
          "Estimates, not the carriers' official statements.",
}


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def incident_urn(incident_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, 'incident:' + incident_id)}"


def incident_page_url(base_url: str, incident_id: str, lang: str = "ko") -> str:
    url = f"{base_url.rstrip('/')}/outages?incident={quote(incident_id, safe='')}"
    return url + ("&lang=en" if lang == "en" else "")


def status_document(cur, *, base_url: str = "", now: datetime | None = None) -> dict:
    """Current status per carrier and the open incidents (GET /api/v1/status)."""
    now = now or datetime.now(UTC)
    scanned, _ = outages_sql.scan_state(cur)
    incidents = load_public(cur, outages_sql.open_incidents(cur))
    carriers = {n: {"status": "normal", "incidents": []} for n in NETWORKS}
    for incident in incidents:
        entry = carriers[incident["carrier"]]
        entry["incidents"].append(incident["id"])
        if _STATUS_RANK[incident["status"]] > _STATUS_RANK[entry["status"]]:
            entry["status"] = incident["status"]
    base = base_url.rstrip("/")
    return {
        "generated_at": _rfc3339(now),
        "detector": {"scanned_until": _rfc3339(scanned) if scanned else None,
                     "scan_seconds": settings.get_int("DROPMAP_SCAN_SECONDS")},
        "status": "outage" if incidents else "normal",
        "carriers": carriers,
        "open_incidents": incidents,
        "synthetic": any(i["synthetic"] for i in incidents),
        "links": {"atom": f"{base}/api/v1/incidents.atom", "incidents": f"{base}/api/v1/incidents",
                  "page": f"{base}/outages"},
    }


def status_json(cur, *, base_url: str = "", now: datetime | None = None) -> bytes:
    """The body of GET /api/v1/status, as bytes: the site answers it and the detector writes it to
    status.json (outages.static_status), so both are the same document, byte for byte."""
    document = status_document(cur, base_url=base_url, now=now)
    # Starlette's JSONResponse encoding, kept so the API's body did not change when it moved here.
    return json.dumps(document, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def atom_feed(cur, *, base_url: str, lang: str = "ko", limit: int = 50, now: datetime | None = None) -> bytes:
    """The latest incidents as an Atom 1.0 feed (UTF-8 bytes)."""
    lang = "en" if lang == "en" else "ko"
    now = now or datetime.now(UTC)
    incidents = incidents_with_areas(cur, limit=limit)
    base = base_url.rstrip("/")
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": lang})

    def sub(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: v for k, v in attrs.items() if v is not None})
        if text is not None:
            element.text = text
        return element

    sub(feed, "id", f"urn:uuid:{uuid.uuid5(_NAMESPACE, 'incidents-feed')}")
    sub(feed, "title", FEED_TITLE[lang])
    sub(feed, "subtitle", FEED_SUBTITLE[lang])
    updated = max((r["changed_at"] for r, _ in incidents), default=now)
    sub(feed, "updated", _rfc3339(updated))
    author = sub(feed, "author")
    sub(author, "name", "DropMap (끊김지도)")
    self_href = f"{base}/api/v1/incidents.atom" + ("?lang=en" if lang == "en" else "")
    sub(feed, "link", rel="self", type="application/atom+xml", href=self_href)
    sub(feed, "link", rel="alternate", type="text/html", href=f"{base}/outages" + ("?lang=en" if lang == "en" else ""))
    sub(feed, "generator", "DropMap")
    sub(feed, "rights", "CC BY 4.0")
    for row, where in incidents:
        entry = sub(feed, "entry")
        sub(entry, "id", incident_urn(row["incident_id"]))
        sub(entry, "title", title_text(row, where, lang) + (SYNTHETIC_TAG[lang] if row["synthetic"] else ""))
        sub(entry, "updated", _rfc3339(row["changed_at"]))
        sub(entry, "published", _rfc3339(row["detected_at"]))
        sub(entry, "link", rel="alternate", type="text/html", href=incident_page_url(base, row["incident_id"], lang))
        sub(entry, "summary", summary_text(row, where, lang), type="text")
        sub(entry, "category", term=row["network"], label=row["network"])
        sub(entry, "category", term=row["status"])
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
